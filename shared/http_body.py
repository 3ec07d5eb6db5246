"""Reading an HTTP request body with a size limit, for every endpoint that takes one from strangers."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused once it passes `limit` bytes, whether or not Content-Length was sent.

    Content-Length alone is not enough: a chunked upload has none, and the server would otherwise buffer
    whatever it is sent. So a declared length over the limit is refused before reading, and the
    streamed chunks are counted as they arrive.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
