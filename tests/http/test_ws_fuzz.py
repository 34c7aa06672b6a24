"""Hypothesis-made WebSocket frames never crash a client actor or the server: every frame
gets exactly one answer (a `reply` or an `error` frame), the connection stays usable and
the server keeps serving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http.conftest import http_config, running

TYPES = ["send_text", "mark_read", "ping", "hello", "reply", "error", "", "SEND_TEXT", "x" * 300]
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
command_like = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES) | st.text(max_size=20)},
    optional={
        "ref": st.text(max_size=250) | st.integers(),
        "session": st.text(max_size=70) | json_values,
        "to": st.text(max_size=40) | st.integers(),
        "text": st.text(max_size=100) | st.none(),
        "chat": st.text(max_size=40),
        "ids": st.lists(st.text(max_size=10), max_size=3) | st.text(),
        "extra": json_values,
    },
)
frames = (
    command_like.map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=200)
    | st.binary(max_size=200)
)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(frames, min_size=1, max_size=15))
def test_any_frame_gets_one_answer_and_the_connection_lives_on(
    tmp_path_factory: pytest.TempPathFactory, batch: list[str | bytes]
) -> None:
    # A plain test around trio.run: hypothesis drives the examples, each against a fresh
    # server (pytest-trio's async fixtures do not span hypothesis examples).
    trio.run(_one_batch, tmp_path_factory.mktemp("fuzz"), batch)


async def _one_batch(tmp_path: Path, batch: list[str | bytes]) -> None:
    async with running(http_config(tmp_path)) as server:
        _, token = await server.tenant("fuzz")
        async with server.ws(token) as ws:
            hello = await ws.recv()
            assert hello["type"] == "hello"
            for frame in batch:
                await ws.conn.send_message(frame)
                answer = await ws.recv()
                assert answer["type"] in ("reply", "error"), (frame, answer)
                if answer["type"] == "error" or not answer["ok"]:
                    assert answer["error"]["status"] in (400, 404, 409, 422), (frame, answer)
            pong = await ws.call({"type": "ping", "ref": "still-there"})
            assert pong["ok"] is True
        assert (await server.http.get("/health")).status_code == 200
