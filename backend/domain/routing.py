"""Routing a point to an area through the grid index (named places are the gazetteer's: nlp.places).

Point lookup rule (GridIndex.locate): among the special grids, micro-grids and grids whose closed
polygon contains the point, a special grid wins over a micro-grid, and a micro-grid wins over a grid.
Within one level (a point on a border shared by two grids) the smallest code wins.
Outside every indexed polygon the answer is None.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import STRtree
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from backend.cityconfig.schemas import Area

logger = logging.getLogger(__name__)

# Lower rank wins where polygons overlap.
LEVEL_RANK: dict[str, int] = {"special": 0, "microgrid": 1, "grid": 2}
# Bucket cells are padded so that a point on a cell edge still sees every polygon touching it.
_CELL_PADDING = 1e-9
# Polygons with up to this many vertices and no holes get a pure-Python crossing test.
_MAX_PY_VERTICES = 64
# Points this close (relative to the polygon's size) to an edge or a vertex's latitude go to GEOS.
_EDGE_MARGIN = 1e-9
# An edge (ax, ay, bx, by); a polygon's test data is None for a rectangle, else (margin, edges),
# with edges empty when only GEOS should decide (holes or many vertices).
Edge = tuple[float, float, float, float]
RingTest = tuple[float, tuple[Edge, ...]] | None


class GridIndex:
    """Point → most specific area (special grid, micro-grid, grid), built on a shapely STRtree.

    The STRtree answers `candidates()` directly. For `locate()`, the tree is queried once at
    build time for every cell of a uniform bucket grid, sized like the median polygon. A lookup
    then does no more than:
    - a dictionary read;
    - a bounding-box test per candidate, in priority order;
    - for candidates that are not axis-aligned rectangles, an exact point-in-polygon test:
      ray casting in Python, and GEOS (`shapely.intersects_xy`) for points near an edge.
    This keeps single lookups at a few microseconds (see BENCHMARKS.md).
    """

    def __init__(
        self,
        codes: Sequence[str],
        levels: Sequence[str],
        geometries: Sequence[BaseGeometry] | NDArray[np.object_],
        parents: Mapping[str, str | None] | None = None,
    ) -> None:
        if not len(codes) == len(levels) == len(geometries):
            raise ValueError("codes, levels and geometries must have the same length")
        unknown = sorted(set(levels) - set(LEVEL_RANK))
        if unknown:
            raise ValueError(f"cannot index level {unknown[0]!r}; expected one of {sorted(LEVEL_RANK)}")
        ranks = [LEVEL_RANK[level] for level in levels]
        order = [i for _, _, i in sorted(zip(ranks, codes, range(len(codes)), strict=True))]
        self._codes: list[str] = [codes[i] for i in order]
        self._levels: dict[str, str] = dict(zip(codes, levels, strict=True))
        self._parents: dict[str, str | None] = dict(parents or {})
        geoms = np.empty(len(order), dtype=object)
        geoms[:] = np.asarray(geometries, dtype=object)[order] if len(order) else []
        self._geoms = geoms
        self._tree = STRtree(geoms)
        self._build_buckets()

    @classmethod
    def build(cls, areas: Iterable[Area]) -> GridIndex:
        """Index the special grids, micro-grids and grids among the areas (other levels are skipped)."""
        chosen = [a for a in areas if a.level in LEVEL_RANK]
        return cls(
            [a.code for a in chosen],
            [a.level for a in chosen],
            [a.geometry for a in chosen],
            parents={a.code: a.parent for a in chosen},
        )

    @classmethod
    def from_polygons(
        cls, items: Iterable[tuple[str, str, BaseGeometry]], parents: Mapping[str, str | None] | None = None
    ) -> GridIndex:
        """Index raw (code, level, polygon) tuples."""
        rows = list(items)
        codes, levels, geoms = (list(col) for col in zip(*rows, strict=True)) if rows else ([], [], [])
        return cls(codes, levels, geoms, parents)

    def __len__(self) -> int:
        return len(self._codes)

    def _build_buckets(self) -> None:
        n = len(self._codes)
        self._cells: dict[int, tuple[tuple[float, float, float, float, int, RingTest], ...]] = {}
        if n == 0:
            self._x0 = self._y0 = math.inf
            self._x1 = self._y1 = -math.inf
            return
        bounds = shapely.bounds(self._geoms)
        self._bounds: list[tuple[float, float, float, float]] = list(map(tuple, bounds.tolist()))
        envelope_area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
        is_box = (shapely.get_num_interior_rings(self._geoms) == 0) & np.isclose(
            shapely.area(self._geoms), envelope_area, rtol=1e-12, atol=0.0
        )
        self._is_box: list[bool] = is_box.tolist()
        shapely.prepare(self._geoms[~is_box])  # only polygons that may need GEOS at lookup time
        self._x0, self._y0 = float(bounds[:, 0].min()), float(bounds[:, 1].min())
        self._x1, self._y1 = float(bounds[:, 2].max()), float(bounds[:, 3].max())
        span_x, span_y = max(self._x1 - self._x0, 1e-12), max(self._y1 - self._y0, 1e-12)
        width = float(np.median(bounds[:, 2] - bounds[:, 0])) or span_x
        height = float(np.median(bounds[:, 3] - bounds[:, 1])) or span_y
        # Cap the bucket count at a few per polygon, so sparse layouts do not allocate huge grids.
        scale = max(1.0, math.sqrt((span_x / width) * (span_y / height) / (4 * n + 1024)))
        width, height = width * scale, height * scale
        # Shift the buckets half a cell so that on lattice-like layouts bucket edges fall inside
        # polygons rather than on their borders: a bucket then meets 4 polygons, not 9.
        self._gx0, self._gy0 = self._x0 - width / 2, self._y0 - height / 2
        self._nx = int((self._x1 - self._gx0) / width) + 1
        self._ny = int((self._y1 - self._gy0) / height) + 1
        self._inv_w, self._inv_h = 1.0 / width, 1.0 / height
        mesh_x, mesh_y = np.meshgrid(np.arange(self._nx), np.arange(self._ny))
        ix, iy = mesh_x.ravel(), mesh_y.ravel()
        pad_x, pad_y = width * _CELL_PADDING, height * _CELL_PADDING
        cells = shapely.box(
            self._gx0 + ix * width - pad_x,
            self._gy0 + iy * height - pad_y,
            self._gx0 + (ix + 1) * width + pad_x,
            self._gy0 + (iy + 1) * height + pad_y,
        )
        # Bounding boxes are enough here: every lookup tests the box, then the polygon itself.
        cell_idx, geom_idx = self._tree.query(cells)
        # Sort by cell, then by geometry index, which is already priority order.
        order = np.lexsort((geom_idx, cell_idx))
        cell_idx, geom_idx = cell_idx[order], geom_idx[order]
        keys = iy[cell_idx] * self._nx + ix[cell_idx]
        uniq, starts = np.unique(keys, return_index=True)
        # Each bucket holds (xmin, ymin, xmax, ymax, index, ring test) entries: a lookup indexes nothing else.
        tests = self._ring_tests()
        entries = [(*self._bounds[i], i, tests[i]) for i in range(n)]
        in_cells = list(map(entries.__getitem__, geom_idx.tolist()))
        ends = [*starts[1:].tolist(), len(in_cells)]
        # Built with C-level iteration only: a Python loop over 100,000 buckets costs a second.
        slices = map(slice, starts.tolist(), ends)
        self._cells.update(zip(uniq.tolist(), map(tuple, map(in_cells.__getitem__, slices)), strict=True))

    def locate(self, lon: float, lat: float) -> str | None:
        """The code of the most specific area containing the point, or None outside them all."""
        if not (self._x0 <= lon <= self._x1 and self._y0 <= lat <= self._y1):
            return None
        key = int((lat - self._gy0) * self._inv_h) * self._nx + int((lon - self._gx0) * self._inv_w)
        for x0, y0, x1, y1, i, test in self._cells.get(key, ()):
            if x0 <= lon <= x1 and y0 <= lat <= y1:
                if test is None:
                    return self._codes[i]
                inside = _crossing_test(test, lon, lat)
                if inside is None:
                    inside = bool(shapely.intersects_xy(self._geoms[i], lon, lat))
                if inside:
                    return self._codes[i]
        return None

    def _ring_tests(self) -> list[RingTest]:
        """Per polygon: None for a rectangle, else the margin and exterior edges (empty: ask GEOS)."""
        tests: list[RingTest] = [None] * len(self._codes)
        todo = np.array([i for i, box in enumerate(self._is_box) if not box], dtype=np.intp)
        if not len(todo):
            return tests
        margins: dict[int, float] = {}
        for i in todo.tolist():
            x0, y0, x1, y1 = self._bounds[i]
            margins[i] = max(_EDGE_MARGIN * max(x1 - x0, y1 - y0), 1e-12)
            tests[i] = (margins[i], ())
        sub = self._geoms[todo]
        simple = (
            (shapely.get_type_id(sub) == shapely.GeometryType.POLYGON)
            & (shapely.get_num_interior_rings(sub) == 0)
            & (shapely.get_num_coordinates(sub) <= _MAX_PY_VERTICES)
        )
        chosen = todo[simple]
        if not len(chosen):
            return tests
        coords, owner = shapely.get_coordinates(shapely.get_exterior_ring(self._geoms[chosen]), return_index=True)
        flat = coords.tolist()
        _, starts = np.unique(owner, return_index=True)
        ends = [*starts[1:].tolist(), len(flat)]
        for i, start, end in zip(chosen.tolist(), starts.tolist(), ends, strict=True):
            ring = flat[start:end]
            edges = tuple((ax, ay, bx, by) for (ax, ay), (bx, by) in zip(ring, ring[1:], strict=False))
            tests[i] = (margins[i], edges)
        return tests

    def candidates(self, lon: float, lat: float) -> list[str]:
        """Every indexed area whose closed polygon contains the point, winner first (STRtree query)."""
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        return [self._codes[i] for i in sorted(hits.tolist())]

    def grid_of(self, code: str) -> str | None:
        """The grid that answers for an area: a micro-grid's parent grid, a grid or special grid itself."""
        level = self._levels.get(code)
        if level == "microgrid":
            return self._parents.get(code)
        return code if level in ("grid", "special") else None


def _crossing_test(test: tuple[float, tuple[Edge, ...]], x: float, y: float) -> bool | None:
    """Even-odd ray casting; None when the point is too close to an edge or vertex to decide."""
    margin, edges = test
    if not edges:
        return None
    inside = False
    for ax, ay, bx, by in edges:
        if abs(y - ay) <= margin:
            return None  # on or near a vertex's latitude: GEOS decides the boundary cases
        if (ay > y) != (by > y):
            crossing = ax + (y - ay) * (bx - ax) / (by - ay)
            if abs(x - crossing) <= margin:
                return None
            if x < crossing:
                inside = not inside
    return inside
