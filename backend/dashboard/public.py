"""向群众汇报 on the web: a public page per area (district, streets, communities) with the week's figures.

No login and no personal data: counts, rates and category names only (backend.services.public_report).
`?lang=en` (or the dashboard's language cookie) shows it in English.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from backend.api.deps import RuntimeDep, SessionDep
from backend.dashboard.lang import request_lang
from backend.dashboard.names import category_names
from backend.dashboard.web import templates
from backend.domain.errors import NotFound
from backend.services.public_report import build_report, public_areas
from backend.texts import t

router = APIRouter(prefix="/public", tags=["public"], include_in_schema=False)


@router.get("/reports", response_class=HTMLResponse)
def reports_index(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """The areas with a public report."""
    return templates.TemplateResponse(
        request, "public_report.html", {"lang": request_lang(request), "report": None, "areas": public_areas(runtime)}
    )


@router.get("/reports/{area_code}", response_class=HTMLResponse)
def report_page(area_code: str, request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    """One area's report for the seven days before today."""
    lang = request_lang(request)
    try:
        report = build_report(session, runtime, area_code, runtime.clock.now())
    except NotFound as exc:
        raise HTTPException(404, t("error.area_not_found", lang, area=area_code[:64])) from exc
    names = category_names(session, lang)
    hot = [(names.get(code, t("dash.uncategorised", lang)), n) for code, n in report.hot]
    issues = [
        (h.place, names.get(h.category_code, t("dash.uncategorised", lang)) if h.category_code else "", h)
        for h in report.hot_issues
    ]
    return templates.TemplateResponse(
        request,
        "public_report.html",
        {
            "lang": lang,
            "report": report,
            "hot": hot,
            "hot_issues": issues,
            "areas": public_areas(runtime),
        },
    )
