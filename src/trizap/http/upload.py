"""`POST /v1/media`: an upload read straight from ASGI, piece by piece, into the media store.

Quart would buffer a request body as fast as it arrives, past any bound, and refuses one
over the app's 1 MiB limit before a handler runs; an upload of up to `media_max_bytes`
needs neither. So the app hands this route's requests (`POST` on its path) to
`upload_media` below Quart: it reads each ASGI body message only when the previous one
is written (hypercorn's bounded queue then holds the client back), counts the bytes as
they come (413 at the cap, not after), and answers with the same problem documents as
every other route. A multipart body is taken apart as it streams (werkzeug's sans-I/O
decoder): the `file` part goes to the store, other parts are read past and dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl

from werkzeug.datastructures import Headers, MultiDict
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, File, MultipartDecoder, NeedData

from ..protocol.commands import MediaUploadQuery, parse_query
from ..protocol.errors import MalformedInput, PayloadTooLarge, TrizapError, ValidationError
from ..protocol.views import media_view
from ..protocol.wire import encode
from .auth import Receive, Scope, Send, principal_of, require_tenant
from .problems import problem_body, problem_headers, status_of
from .strict import single_values

PATH: Final = "/v1/media"
#: Room for a multipart body's boundaries and part headers beyond the file itself.
MULTIPART_SLACK: Final = 64 * 1024


class _Gone(Exception):
    """The client went away in the middle of its upload."""


class _Body:
    """The request body, message by message, counted."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self.read = 0
        self.done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            data = bytes(message.get("body", b""))
            self.done = not message.get("more_body", False)
            self.read += len(data)
            if self.read > self._limit:
                raise PayloadTooLarge(f"a file may have at most {self._limit} bytes")
            if data:
                yield data


async def _multipart(
    body: _Body, boundary: bytes
) -> tuple[str | None, str | None, AsyncIterator[bytes]]:
    """The `file` part's name, type and bytes (as they stream)."""
    decoder = MultipartDecoder(boundary)
    source = body.chunks()
    found: File | None = None

    async def feed() -> bool:
        data = await anext(source, None)
        decoder.receive_data(data)
        return data is not None

    # Up to the `file` part's headers.
    while found is None:
        event = decoder.next_event()
        if isinstance(event, NeedData):
            if not await feed():
                raise ValidationError([("body.file", "no `file` part in the form")])
        elif isinstance(event, File) and event.name == "file":
            found = event
        elif isinstance(event, Epilogue):
            raise ValidationError([("body.file", "no `file` part in the form")])

    async def data() -> AsyncIterator[bytes]:
        while True:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                if not await feed():
                    raise MalformedInput("the multipart body ends inside the file")
            elif isinstance(event, Data):
                if event.data:
                    yield event.data
                if not event.more_data:
                    break
        async for _ in source:  # the rest (other parts, the epilogue) is not kept
            pass

    ctype = found.headers.get("content-type")
    return found.filename or None, ctype, data()


async def upload_media(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """The whole exchange of one upload (the route table documents it)."""
    body: _Body | None = None
    try:
        principal = require_tenant(principal_of(scope))
        query_string = bytes(scope.get("query_string", b"")).decode("latin-1")
        pairs = parse_qsl(query_string, keep_blank_values=True)
        query = parse_query(single_values(MultiDict(pairs)), MediaUploadQuery)
        headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]])
        rt = state.runtime
        limit = rt.config.media_max_bytes
        ctype, options = parse_options_header(headers.get("content-type", ""))
        multipart = ctype == "multipart/form-data"
        if multipart:
            limit += MULTIPART_SLACK
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"a file may have at most {rt.config.media_max_bytes} bytes")
        body = _Body(receive, limit)
        if multipart:
            boundary = options.get("boundary")
            if not boundary:
                raise MalformedInput("a multipart/form-data body needs its boundary")
            filename, mimetype, chunks = await _multipart(body, boundary.encode("latin-1"))
            filename = filename or query.filename
        else:
            mimetype = headers.get("content-type") or None
            filename, chunks = query.filename, body.chunks()
        row = await rt.media.upload(principal.tenant.id, chunks, mimetype, filename)
        await _answer(send, 201, encode(media_view(row)), {"Content-Type": "application/json"})
    except _Gone:
        return
    except TrizapError as error:
        extra = problem_headers(error)
        if body is None or not body.done:
            extra["Connection"] = "close"  # the rest of the body is not read
        await _answer(send, status_of(error), problem_body(error), extra)


async def _answer(send: Send, status: int, payload: bytes, headers: dict[str, str]) -> None:
    headers = {**headers, "Content-Length": str(len(payload)), "Cache-Control": "no-store"}
    start: MutableMapping[str, Any] = {
        "type": "http.response.start",
        "status": status,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await send(start)
    await send({"type": "http.response.body", "body": payload, "more_body": False})
