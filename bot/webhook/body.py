"""Reading a webhook's body without letting it grow past a limit."""

from __future__ import annotations

from fastapi import HTTPException, Request


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, or 413 once it grows past max_bytes (also for bodies without Content-Length)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise HTTPException(status_code=413, detail="request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(status_code=413, detail="request body too large")
        chunks.append(chunk)
    return b"".join(chunks)
