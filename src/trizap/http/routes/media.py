"""The media store: uploads (streamed, below Quart: `http.upload`), reads with `Range` and
`ETag`, deletes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Final
from urllib.parse import quote

from quart import Response, request

from ...protocol.commands import MediaUploadQuery
from ...protocol.media import MediaView
from ...store import MediaRow
from ..api import Answer, Ctx, Media
from ..problems import RangeNotSatisfiable
from .table import op

_RANGE: Final = re.compile(r"bytes=(\d*)-(\d*)")
# Any bytes: a file of whatever type (the type is its `Content-Type`), so no schema beyond.
_BYTES: Final = {"description": "The file's bytes, of the type its Content-Type says."}
# A file is the tenant's own content, served under the API's origin: never run as a page.
_SAFE: Final = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-cache",
    "Accept-Ranges": "bytes",
}


@op(
    "POST",
    "/v1/media",
    summary="Upload a file: `multipart/form-data` with one `file` part, or the raw bytes "
    "with their `Content-Type` (and `?filename=`). Streamed to disk; the declared type is "
    "checked against the bytes",
    tag="media",
    auth="tenant",
    query=MediaUploadQuery,
    responses={201: MediaView},
    raw_body={
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "contentMediaType": "*/*"}},
                "required": ["file"],
            }
        },
        "*/*": {"schema": _BYTES},
    },
)
async def upload_media(ctx: Ctx) -> Answer:
    """Stores a file in the tenant's media store; 201 with it. The body is written to disk as
    it arrives (never whole in memory) and hashed (SHA-256); past `media_max_bytes`, or the
    tenant's `media_quota`, it is refused with 413 at once. The declared type is checked
    against the bytes (422 when they are something else); `application/octet-stream`, or
    no type, takes what the bytes are. An empty file is 422."""
    raise AssertionError("answered below Quart, by http.upload")


def _etag(row: MediaRow) -> str:
    return f'"{row.sha256}"'


def _range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """(start, end exclusive) for one satisfiable range; None: the whole file (no header,
    several ranges, or a form we do not serve); False: not satisfiable (416)."""
    if header is None:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        return (size - min(n, size), size) if n > 0 else False
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return False
    return start, end


@op(
    "GET",
    "/v1/media/{media_id}",
    summary="A file's bytes (uploaded, fetched or received), with `ETag` and `Range` "
    "support (206 for one range)",
    tag="media",
    auth="tenant",
    responses={200: Media("*/*", _BYTES), 206: Media("*/*", _BYTES), 304: None},
    errors=(404, 416),
)
async def get_media(ctx: Ctx) -> Response:
    """The file's bytes with its type, `ETag` (its SHA-256) and `Accept-Ranges`. One
    `Range` gives 206 with `Content-Range` (several give the whole file), one past the end
    416; `If-None-Match` with the ETag gives 304, `If-Range` is honoured. Another tenant's
    file is 404."""
    rt = ctx.rt
    row = await rt.media.get(ctx.tenant.id, ctx.params["media_id"])
    etag = _etag(row)
    headers = {**_SAFE, "ETag": etag, "Content-Type": row.mimetype}
    if row.filename:
        headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(row.filename)}"
    if etag in (request.headers.get("If-None-Match") or "").split(", "):
        return Response(b"", status=304, headers=headers)
    wanted = _range(request.headers.get("Range"), row.size)
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range != etag:
        wanted = None  # the file changed since the part the client has: all of it
    if wanted is False:
        raise RangeNotSatisfiable(f"the file has {row.size} bytes", row.size)
    start, end, status = 0, row.size, 200
    if isinstance(wanted, tuple):
        start, end = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{row.size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(b"", status=status, headers=headers)
    chunks = rt.media.chunks(row, start, end)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for data in chunks:
                yield data
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    response = Response(body(), status=status, headers=headers)
    response.timeout = None  # a large file takes as long as the client reads it
    return response


@op(
    "DELETE",
    "/v1/media/{media_id}",
    summary="Delete a file (409 while a queued message carries it)",
    tag="media",
    auth="tenant",
    responses={204: None},
    errors=(404, 409),
)
async def delete_media(ctx: Ctx) -> Answer:
    """Removes the file, its bytes and its row; 409 while a queued message carries it
    (cancel the message first)."""
    await ctx.rt.media.delete(ctx.tenant.id, ctx.params["media_id"])
    return Answer(status=204)
