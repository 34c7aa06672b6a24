"""`Media`: a tenant's files: uploads (streamed), reads (ranges), deletes, and the files a
message names (`resolve`: an uploaded id, a URL the server fetches, or base64).

A URL is fetched once, when the message is accepted, through `outbound` (the address rule
on every connection, redirects followed one by one under the same rule, at most
`MAX_REDIRECTS`), within `media_fetch_timeout`, and never past `media_max_bytes`: what
fails is the request's error (422 at `media.url`), and nothing is kept.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Final
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import trio

from ..domain.deps import Deps
from ..domain.media import MediaStore, MediaWriter
from ..outbound import Rule, open_client, refusal
from ..protocol.errors import PayloadTooLarge, ValidationError
from ..protocol.media import MediaById, MediaByUrl, MediaInline, MediaSource
from ..protocol.names import MAX_FILENAME
from ..store import MediaRow

MAX_REDIRECTS: Final = 5


def _invalid(loc: str, msg: str) -> ValidationError:
    return ValidationError([(loc, msg)])


def filename_of(url: str) -> str | None:
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return name[:MAX_FILENAME] or None


class Media:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self.store: MediaStore = deps.media
        #: The address rule for media URLs (tests may count an address of theirs public).
        self.rule: Rule = refusal

    async def upload(
        self,
        tenant_id: str,
        chunks: AsyncIterator[bytes],
        mimetype: str | None,
        filename: str | None,
    ) -> MediaRow:
        """A file from `chunks`, streamed to disk; `mimetype` is checked against the bytes
        (ValidationError at `body.mimetype`), 413 past the cap or the tenant's quota."""
        async with self.store.writer(tenant_id) as writer:
            async for data in chunks:
                await writer.write(data)
            return await self._commit(writer, mimetype, filename, "body")

    async def _commit(
        self, writer: MediaWriter, mimetype: str | None, filename: str | None, loc: str
    ) -> MediaRow:
        try:
            return await writer.commit(mimetype, filename)
        except ValidationError as exc:
            raise exc.prefixed(loc) from None

    async def get(self, tenant_id: str, media_id: str) -> MediaRow:
        return await self.store.get(tenant_id, media_id)

    def chunks(self, row: MediaRow, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes `start` to `end` (exclusive) of a stored file, in pieces."""
        return self.store.chunks(row, start, end)

    async def delete(self, tenant_id: str, media_id: str) -> None:
        await self.store.delete(tenant_id, media_id)

    # -- the file a message names -------------------------------------------------------------

    async def resolve(
        self, tenant_id: str, source: MediaSource, loc: str = "body.media"
    ) -> tuple[MediaRow, bool]:
        """The stored file `source` names, and whether it was made for this request (a URL
        or base64: the caller removes it if the request fails)."""
        match source:
            case MediaById(id=media_id):
                row = await self._deps.store.get_media(tenant_id, media_id)
                if row is None:
                    raise _invalid(f"{loc}.id", f"no media {media_id!r}: upload it first")
                return row, False
            case MediaInline(base64=text, mimetype=mimetype):
                return await self._inline(tenant_id, text, mimetype, loc), True
            case MediaByUrl(url=url):
                return await self._fetch(tenant_id, url, f"{loc}.url"), True
        raise AssertionError(source)

    async def _inline(self, tenant_id: str, text: str, mimetype: str, loc: str) -> MediaRow:
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(f"{loc}.base64", "is not valid base64") from None
        async with self.store.writer(tenant_id) as writer:
            await writer.write(data)
            try:
                return await writer.commit(mimetype, None)
            except ValidationError as exc:
                raise exc.prefixed(loc) from None

    async def _fetch(self, tenant_id: str, url: str, loc: str) -> MediaRow:
        config = self._deps.config
        try:
            with trio.fail_after(config.media_fetch_timeout):
                async with (
                    open_client(
                        allow_private=config.media_allow_private, max_connections=2, rule=self.rule
                    ) as client,
                    self.store.writer(tenant_id) as writer,
                ):
                    mimetype, final = await self._download(client, url, writer, loc)
                    try:
                        return await writer.commit(mimetype, filename_of(final))
                    except ValidationError as exc:
                        raise _invalid(loc, f"the file fetched: {exc.detail}") from None
        except trio.TooSlowError:
            raise _invalid(loc, f"was not fetched within {config.media_fetch_timeout:g}s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _invalid(loc, f"cannot be fetched: {exc}") from None

    async def _download(
        self, client: httpx.AsyncClient, url: str, writer: MediaWriter, loc: str
    ) -> tuple[str | None, str]:
        """Follows redirects one at a time (each connection under the address rule) and
        writes the body; the type the server declared, and the URL it came from."""
        for _ in range(MAX_REDIRECTS + 1):
            async with client.stream("GET", url) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("location", ""))
                    if not target.startswith(("http://", "https://")):
                        raise _invalid(loc, f"redirects to {target!r}, not an http(s) URL")
                    url = target
                    continue
                if response.status_code != 200:
                    raise _invalid(loc, f"answered {response.status_code}, not 200")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.store.max_bytes:
                    raise PayloadTooLarge(
                        f"the file at {loc} has {declared} bytes; at most "
                        f"{self.store.max_bytes} are taken (media_max_bytes)"
                    )
                async for data in response.aiter_bytes():
                    await writer.write(data)
                found: str | None = response.headers.get("content-type")
                return found, url
        raise _invalid(loc, f"redirects more than {MAX_REDIRECTS} times")
