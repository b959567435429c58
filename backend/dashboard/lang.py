"""The dashboard's language: `?lang=` or the language cookie, Chinese by default; and the words in templates."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.dashboard import labels, trail
from backend.texts import DEFAULT_LANG, LANGUAGES, t

LANG_COOKIE = "gridbot_lang"
ONE_YEAR = 365 * 24 * 3600


def request_lang(request: Request) -> str:
    """The page language: `?lang=` first, then the cookie, then Chinese."""
    for value in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if value in LANGUAGES:
            return value
    return DEFAULT_LANG


def switch_url(request: Request) -> str:
    """This page in the other language (the query string kept, `lang` replaced)."""
    other = "en" if request_lang(request) == "zh" else "zh"
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "msg", "error")]
    return f"{request.url.path}?{urlencode([*pairs, ('lang', other)])}"


class RememberLang:
    """Keep a `?lang=` choice on dashboard and public pages in a cookie, so later pages follow it.

    A plain ASGI middleware, like backend.api.app.BodyLimit: every other request (the webhooks) passes
    straight through instead of through BaseHTTPMiddleware's extra task.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = _chosen_lang(scope)
        if chosen is None:
            await self.app(scope, receive, send)
            return

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = Response()  # only for starlette's Set-Cookie formatting
                cookie.set_cookie(LANG_COOKIE, chosen, max_age=ONE_YEAR, samesite="lax", path="/")
                set_cookie = [(k, v) for k, v in cookie.raw_headers if k == b"set-cookie"]
                message = {**message, "headers": [*message.get("headers", []), *set_cookie]}
            await send(message)

        await self.app(scope, receive, with_cookie)


def _chosen_lang(scope: Scope) -> str | None:
    """The `?lang=` of a dashboard or public page request, if it names a language."""
    if scope["type"] != "http" or not scope["path"].startswith(("/dashboard", "/public")):
        return None
    chosen = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [None])[-1]
    return chosen if chosen in LANGUAGES else None


def _lang(context: Context) -> str:
    return request_lang(context["request"])


@pass_context
def tr(context: Context, key: str, **params: Any) -> str:
    """The `tr` template function: a catalogue text in the page language."""
    return t(key, _lang(context), **params)


@pass_context
def label(context: Context, kind: str, code: str | None) -> str:
    """The `label` template function: the word for a code in the page language."""
    return labels.label(kind, code, _lang(context))


@pass_context
def names(context: Context, kind: str, codes: tuple[str, ...]) -> dict[str, str]:
    """The `names` template function: code → word for several codes in the page language."""
    return labels.names(kind, codes, _lang(context))


@pass_context
def page_lang(context: Context) -> str:
    """The `page_lang` template function: zh or en."""
    return _lang(context)


@pass_context
def other_lang_url(context: Context) -> str:
    """The `other_lang_url` template function: the link of the language switch."""
    return switch_url(context["request"])


@pass_context
def trail_note(context: Context, action: str, note: str | None, categories: dict[str, str]) -> str | None:
    """The `trail_note` template function: an audit-trail note with its codes in words."""
    return trail.event_note(action, note, categories, _lang(context))
