"""The table every route module adds its operations to (see `http.api`)."""

from __future__ import annotations

from typing import Final

from ..api import Api

api: Final = Api()
op = api.op
