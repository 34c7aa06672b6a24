"""Media: the files a tenant keeps in trizap's media store, and how messages refer to them.

- `MediaView`: a stored file (`POST /v1/media`, `GET /v1/media/{id}` metadata).
- `MediaById`, `MediaByUrl`, `MediaInline`: where a message's file comes from, in a
  request (`{"id"}`, `{"url"}` or `{"base64", "mimetype"}`; `MediaSource` is their union,
  told apart by their keys). The server turns each into a stored file before it queues the
  message.
- `MediaRef`: the stored file a queued message carries (`media` in the message object).
- `ReceivedMedia`: the file of an inbound message (`media` in `message.received`), in the
  media store (`id`) or not (`id` null, with `error`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import attrs

from . import fields, names
from .errors import ValidationError
from .wire import converter

_OMIT_IF_NONE: Final = fields.spec(omit_if_none=True)
MEDIA_ID: Final = fields.spec(
    min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="A media store id."
)
MIMETYPE: Final = fields.spec(max_length=names.MAX_MIMETYPE, pattern=names.MIMETYPE_PATTERN)
FILENAME: Final = fields.spec(min_length=1, max_length=names.MAX_FILENAME)


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    if "@" in value.split("/", 3)[2]:
        raise ValueError("must not carry credentials")
    return value


URL: Final = fields.spec(
    max_length=names.MAX_URL,
    check=_url,
    description="An http(s) URL the server fetches (public addresses only, unless the "
    "server allows private ones).",
)


@attrs.frozen
class MediaView:
    """A file in the media store. `sha256` is hex; `filename` is null when none was given."""

    id: str
    mimetype: str
    size: int
    sha256: str
    filename: str | None
    created_at: datetime


@attrs.frozen
class MediaById:
    """A file uploaded before (`POST /v1/media`)."""

    id: str = attrs.field(metadata=MEDIA_ID)


@attrs.frozen
class MediaByUrl:
    """A file the server fetches once, when the message is accepted."""

    url: str = attrs.field(metadata=URL)


@attrs.frozen
class MediaInline:
    """A small file inside the request, base64-encoded (the request stays under 1 MiB:
    upload anything larger first)."""

    base64: str = attrs.field(metadata=fields.spec(min_length=1))
    mimetype: str = attrs.field(metadata=MIMETYPE)


MediaSource = MediaById | MediaByUrl | MediaInline
_SOURCES: Final = (("id", MediaById), ("url", MediaByUrl), ("base64", MediaInline))


def _structure_source(v: Any, _: Any) -> MediaSource:
    if type(v) is not dict:
        raise ValidationError([("", "expected an object")])
    found = [(key, cls) for key, cls in _SOURCES if key in v]
    if len(found) != 1:
        raise ValidationError([("", 'give exactly one of "id", "url" or "base64"')])
    cls: Any = found[0][1]
    result: MediaSource = converter.structure(v, cls)
    return result


converter.register_structure_hook(MediaSource, _structure_source)


@attrs.frozen
class MediaRef:
    """The stored file a message carries."""

    id: str = attrs.field(metadata=MEDIA_ID)
    mimetype: str = attrs.field(metadata=MIMETYPE)
    size: int = attrs.field(metadata=fields.spec(ge=1))
    filename: str | None = attrs.field(default=None, metadata=FILENAME)


@attrs.frozen
class ReceivedMedia:
    """The file of an inbound message. `id` is the media store's (fetch it with
    `GET /v1/media/{id}`), or null when the download failed: `error` says why, and
    `POST /v1/sessions/{name}/media/{wa_id}/download` tries again. `seconds` (audio,
    video), `width`/`height` (image, video, sticker) and `ptt` (a voice note) when known."""

    id: str | None
    mimetype: str
    size: int
    sha256: str | None
    filename: str | None
    seconds: int | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    width: int | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    height: int | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    ptt: bool | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
    error: str | None = attrs.field(default=None, metadata=_OMIT_IF_NONE)
