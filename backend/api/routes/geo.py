"""Where is this point: the grid lookup for staff tools."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import CurrentStaff, RuntimeDep
from backend.api.schemas import LocateOut

router = APIRouter(prefix="/api/geo", tags=["geo"])


@router.get("/locate", response_model=LocateOut)
def locate(
    runtime: RuntimeDep,
    _actor: CurrentStaff,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
) -> LocateOut:
    """The most specific area (special grid, micro-grid or grid) containing a point."""
    code = runtime.grids.locate(lon, lat)
    area = runtime.city.areas.get(code) if code else None
    return LocateOut(
        lon=lon,
        lat=lat,
        area_code=code,
        grid_code=runtime.grid_of(code),
        name=area.name if area else None,
        level=area.level if area else None,
    )
