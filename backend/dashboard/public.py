"""向群众汇报 on the web: a public page per area (district, streets, communities) with the week's figures.

No login and no personal data: counts, rates and category names only (backend.services.public_report).
`?lang=en` shows it in English.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from backend.api.deps import RuntimeDep, SessionDep
from backend.dashboard.web import templates
from backend.domain.errors import NotFound
from backend.services.public_report import build_report, public_areas
from backend.texts import LANGUAGES, t

router = APIRouter(prefix="/public", tags=["public"], include_in_schema=False)


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang", "zh")
    return lang if lang in LANGUAGES else "zh"


def _category_names(session: SessionDep) -> dict[str, str]:
    from sqlalchemy import select

    from backend.db.models import Category

    return {code: name for code, name in session.execute(select(Category.code, Category.name))}


@router.get("/reports", response_class=HTMLResponse)
def reports_index(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """The areas with a public report."""
    lang = _lang(request)
    return templates.TemplateResponse(
        request,
        "public_report.html",
        {"lang": lang, "tr": lambda key, **p: t(key, lang, **p), "report": None, "areas": public_areas(runtime)},
    )


@router.get("/reports/{area_code}", response_class=HTMLResponse)
def report_page(area_code: str, request: Request, session: SessionDep, runtime: RuntimeDep) -> HTMLResponse:
    """One area's report for the seven days before today."""
    lang = _lang(request)
    try:
        report = build_report(session, runtime, area_code, runtime.clock.now())
    except NotFound as exc:
        raise HTTPException(404, t("error.area_not_found", lang, area=area_code[:64])) from exc
    names = _category_names(session) if lang == "zh" else {}
    hot = [(names.get(code, code.replace("_", " ")), n) for code, n in report.hot]
    issues = [
        (h.place, names.get(h.category_code, h.category_code.replace("_", " ")) if h.category_code else "", h)
        for h in report.hot_issues
    ]
    return templates.TemplateResponse(
        request,
        "public_report.html",
        {
            "lang": lang,
            "tr": lambda key, **p: t(key, lang, **p),
            "report": report,
            "hot": hot,
            "hot_issues": issues,
            "areas": public_areas(runtime),
        },
    )
