"""Things that run for as long as the FastAPI app runs, nested inside its existing lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI


def run_during(app: FastAPI, during: Callable[[], AbstractAsyncContextManager[None]]) -> None:
    """Enter `during()` once the app's lifespan so far has started, and leave it before that one ends."""
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi_app: FastAPI) -> AsyncIterator[Any]:
        async with previous(asgi_app) as state, during():
            yield state

    app.router.lifespan_context = lifespan
