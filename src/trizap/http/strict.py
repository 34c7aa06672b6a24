"""Requests read strictly at the edge (docs/reliability.md, "Security"): what a lenient
reader would take one way and another reader another way is refused.

- A query parameter given twice (`?after=1&after=2`) is a 422 at `query.<name>`, not
  the first or the last one silently.
- A request body, when there is one, must say it is JSON (`Content-Type:
  application/json`, or a `+json` type): anything else is 415. A browser form can post
  `text/plain` or `application/x-www-form-urlencoded` across sites without asking; JSON
  it cannot. (curl's `-d` says form-urlencoded: use `--json`.)
- Duplicate keys in a JSON object are refused by `protocol.wire.loads` (422).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from werkzeug.http import parse_options_header

from ..protocol.errors import TrizapError, ValidationError


class UnsupportedMediaType(TrizapError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class _MultiMapping(Protocol):
    def __iter__(self) -> Iterator[str]: ...

    def getlist(self, key: str) -> list[str]: ...


def single_values(args: _MultiMapping) -> dict[str, str]:
    """The query's parameters, each given once; a ValidationError names any that came
    more than once."""
    out: dict[str, str] = {}
    repeated: list[tuple[str, str]] = []
    for key in args:
        values = args.getlist(key)
        if len(values) > 1:
            repeated.append((f"query.{key}", "given more than once"))
        out[key] = values[0]
    if repeated:
        raise ValidationError(repeated)
    return out


def require_json(content_type: str | None) -> None:
    """415 unless `content_type` is JSON (`application/json`, `application/*+json`)."""
    mimetype, _ = parse_options_header(content_type or "")
    mimetype = mimetype.lower()
    if mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    ):
        return
    raise UnsupportedMediaType(
        f"the body must be JSON, sent with Content-Type: application/json (got "
        f"{mimetype or 'none'!r})"
    )
