"""The README says what the code does: its configuration table lists every `Config` field
with its real default, its embedding example runs, and its walkthrough runs as written,
printing what it shows."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import trio

from trizap.config import Config

README = Path(__file__).resolve().parents[1] / "README.md"


def _shown(default: Any) -> str:
    if default is None:
        return "unset"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def _readme() -> str:
    return README.read_text()


def test_the_configuration_table_lists_every_setting_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `TRIZAP_([A-Z0-9_]+)` \| `?([^`|]+?)`? \|", _readme(), re.M))
    fields = {f.name.upper(): _shown(f.default) for f in attrs.fields(Config)}
    assert rows == fields


async def test_the_embedding_example_runs(tmp_path: Path) -> None:
    section = _readme().split("## Embedding", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    result = await trio.run_process(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "session.qr" in out and "serving on" in out


# --- the walkthrough, run as written ---------------------------------------------------------
#
# Its code blocks, in order: `sh` blocks are commands, each followed by what it prints and
# then by what the WebSocket client (the third terminal) prints meanwhile. SCRIPT says, per
# command block, how it runs and which output blocks follow it. Run with
# TRIZAP_README_SHOW=1 to print what each block printed (to paste when the walkthrough
# changes). The one thing changed in the commands is the port: the server listens on a
# free one rather than 8080 (and the CLI gets it as TRIZAP_URL).

Volatile = frozenset(
    {"id", "token", "created_at", "updated_at", "at", "expires_at", "timestamp", "qr", "wa_id"}
)


@attrs.frozen
class Command:
    how: str  # "run": in the shell, to its end; "client": the WebSocket client, in the
    # background (a running one is stopped with Ctrl-C first)
    outputs: tuple[str, ...]  # what follows it: "out" (its output), "client"


SCRIPT = (
    Command("run", ("out",)),  # 1. a tenant
    Command("client", ("client",)),  # 2. the client
    Command("run", ("out", "client")),  # 3. a session
    Command("run", ("client",)),  # 4. the scan
    Command("run", ("out", "client")),  # 5. a second session
    Command("run", ("out", "client")),  # 6. a message
    Command("run", ("out", "client")),  # 6. over the socket
    Command("run", ("out", "client")),  # 7. events over REST
    Command("stop-client", ("out",)),  # 8. a message while the client is away
    Command("client", ("client",)),  # 8. resume
    Command("run", ("out", "client")),  # 9. stop, start
    Command("run", ("out", "client")),  # 10. a photo, uploaded and sent
    Command("run", ("out",)),  # 10. the file received, fetched
)


def _walkthrough_blocks() -> list[tuple[str, str]]:
    section = _readme().split("## Walkthrough with the sim engine", 1)[1].split("\n## ", 1)[0]
    section = section.split("**11. A webhook.**", 1)[0]  # its own test: the next one
    return re.findall(r"^```(\w+)\n(.*?)^```$", section, re.M | re.S)


def _same(expected: Any, actual: Any, key: str = "") -> bool:
    """Equal, except the values of keys that differ from run to run (ids, tokens, times,
    codes); keys and every other value must match."""
    if key in Volatile:
        return type(expected) is type(actual)
    if isinstance(expected, dict) and isinstance(actual, dict):
        if expected.get("type") == "hello" and "last_seq" in actual:
            # The newest seq when the client connects: a resumed one may connect before
            # or after the last receipt of what it missed.
            expected = {**expected, "last_seq": actual["last_seq"]}
        return expected.keys() == actual.keys() and all(
            _same(expected[k], actual[k], k) for k in expected
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            _same(e, a, key) for e, a in zip(expected, actual, strict=True)
        )
    return bool(expected == actual)


def _json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _matches(expected: str, lang: str, actual: list[str]) -> bool:
    """Each expected line matches the next actual line: as JSON when it is JSON, as text
    otherwise; a line in parentheses stands for any lines up to the next match (the QR
    code drawn in the terminal)."""
    want = [line for line in expected.splitlines() if line.strip()]
    got = [line for line in actual if line.strip()]
    if lang == "json":
        return len(want) == len(got) and all(
            _same(json.loads(w), json.loads(g)) for w, g in zip(want, got, strict=True)
        )
    return _text_matches(want, got)


def _same_events(expected: str, actual: list[str]) -> bool:
    """The client's frames of a step: as shown, or the same frames in another order (a
    message's `sent` and its arrival at the other session race by the sim's 0.1 s delivery
    delay; under load the write of `sent` can lose), each with a seq of the step's."""
    if _matches(expected, "json", actual):
        return True
    want = [json.loads(line) for line in expected.splitlines() if line.strip()]
    got = [json.loads(line) for line in actual]
    if len(want) != len(got) or {w.get("seq") for w in want} != {g.get("seq") for g in got}:
        return False
    unmatched = list(got)
    for w in want:
        found = next((g for g in unmatched if _same(_without_seq(w), _without_seq(g))), None)
        if found is None:
            return False
        unmatched.remove(found)
    return True


def _without_seq(frame: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in frame.items() if k != "seq"}


def _text_matches(want: list[str], got: list[str]) -> bool:
    i = 0
    for n, line in enumerate(want):
        if line.startswith("(") and line.endswith(")"):
            following = want[n + 1] if n + 1 < len(want) else None
            while i < len(got) and (following is None or not _line_is(following, got[i])):
                i += 1
            continue
        if i >= len(got) or not _line_is(line, got[i]):
            return False
        i += 1
    return i == len(got)


def _line_is(expected: str, actual: str) -> bool:
    if expected.startswith("{"):
        try:
            return _same(json.loads(expected), json.loads(actual))
        except ValueError:
            return False
    # A time in a sentence ("Expires at ...") is the run's own.
    time = r"\d{4}-\d\d-\d\dT[\d:.]+Z"
    pattern = time.join(re.escape(part) for part in re.split(time, expected))
    return re.fullmatch(pattern, actual) is not None


class Client:
    """The walkthrough's WebSocket client, a process whose lines are read as they come."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.seen = 0  # lines already checked against the README
        self._more = trio.Event()

    async def read(self) -> None:
        assert self.process.stdout is not None
        partial = b""
        async for chunk in self.process.stdout:
            *lines, partial = (partial + chunk).split(b"\n")
            self.lines += [line.decode() for line in lines]
            self._more.set()
            self._more = trio.Event()

    async def next_lines(self, n: int) -> list[str]:
        with trio.fail_after(30):
            while len(self.lines) < self.seen + n:
                await self._more.wait()
        new = self.lines[self.seen : self.seen + n]
        self.seen += n
        return new

    async def settled(self) -> list[str]:
        """For TRIZAP_README_SHOW only: what came until it was quiet for 2 s."""
        while True:
            with trio.move_on_after(2) as quiet:
                await self._more.wait()
            if quiet.cancelled_caught:
                break
        new, self.seen = self.lines[self.seen :], len(self.lines)
        return new

    def interrupt(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C in its terminal


async def test_the_walkthrough_runs_as_written_and_prints_what_it_shows(tmp_path: Path) -> None:
    show = bool(os.environ.get("TRIZAP_README_SHOW"))
    blocks = _walkthrough_blocks()
    expected_langs = [
        lang for command in SCRIPT for lang in ("sh", *(["?"] * len(command.outputs)))
    ]
    assert [("sh" if lang == "sh" else "?") for lang, _ in blocks] == expected_langs, (
        "the walkthrough's code blocks changed: update SCRIPT in tests/test_readme.py"
    )
    os.symlink(README.parent / ".venv", tmp_path / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIZAP_")}
    env_file = tmp_path / "env"
    async with trio.open_nursery() as nursery:
        server = await trio.lowlevel.open_process(
            [str(tmp_path / ".venv/bin/trizap"), "serve", "--port", "0"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert server.stdout is not None
            out = b""
            with trio.fail_after(30):
                while (m := re.search(rb"listening on http://127\.0\.0\.1:(\d+)", out)) is None:
                    chunk = await server.stdout.receive_some()
                    assert chunk, out.decode()
                    out += chunk
            port = m[1].decode()
            nursery.start_soon(_drain, server.stdout)
            env["TRIZAP_URL"] = f"http://127.0.0.1:{port}"
            client: Client | None = None
            pending = iter(blocks)
            for step, command in enumerate(SCRIPT, 1):
                _, code = next(pending)
                code = code.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
                if client is not None and command.how in ("stop-client", "client"):
                    last_seq = max(json.loads(line).get("seq", 0) for line in client.lines)
                    if client.process.returncode is None:
                        client.interrupt()
                        await client.process.wait()
                if command.how == "client":
                    if "AFTER=" in code:  # it resumes from the last seq the client printed
                        if show:
                            print(f"--- step {step}: AFTER={last_seq}")
                            code = re.sub(r"AFTER=\S+", f"AFTER={last_seq}", code)
                        assert f"AFTER={last_seq} " in code, f"step {step}: AFTER={last_seq}"
                    process = await trio.lowlevel.open_process(
                        ["bash", "-c", code],
                        cwd=tmp_path,
                        env=env,
                        stdout=subprocess.PIPE,
                        start_new_session=True,
                    )
                    client = Client(process)
                    nursery.start_soon(client.read)
                    printed: list[str] = []
                else:
                    with trio.fail_after(60):
                        result = await trio.run_process(
                            ["bash", "-c", f"set -e\n{code}\nenv -0 > {env_file}"],
                            cwd=tmp_path,
                            env=env,
                            capture_stdout=True,
                            capture_stderr=True,
                            check=False,
                        )
                    assert result.returncode == 0, (step, result.stderr.decode())
                    printed = result.stdout.decode().splitlines()
                    env = dict(
                        item.split("=", 1) for item in env_file.read_text().split("\0") if item
                    )
                for output in command.outputs:
                    lang, text = next(pending)
                    if output == "out":
                        lines = printed
                    elif show:
                        assert client is not None
                        lines = await client.settled()
                    else:
                        assert client is not None
                        lines = await client.next_lines(len(text.strip().splitlines()))
                    if show:
                        print(f"--- step {step} {output}:", *lines, sep="\n")
                    elif output == "client":
                        assert _same_events(text, lines), (step, output, text, lines)
                    else:
                        assert _matches(text, lang, lines), (step, output, text, lines)
            if client is not None and client.process.returncode is None:
                client.interrupt()
            assert (tmp_path / "qr.png").read_bytes().startswith(b"\x89PNG")
        finally:
            server.send_signal(signal.SIGTERM)
            with trio.fail_after(30):
                assert await server.wait() == 0
            nursery.cancel_scope.cancel()


async def _drain(stream: trio.abc.ReceiveStream) -> None:
    async for _ in stream:
        pass


def test_the_readme_and_docs_stand_on_their_own() -> None:
    """They point at nothing a user of the project does not have."""
    root = README.parent
    for path in [README, *sorted((root / "docs").glob("*.md"))]:
        text = path.read_text()
        for outside in ("API.md", "DESIGN.md", "../shared", "CONVENTIONS.md"):
            assert outside not in text, f"{path.name} points at {outside}"
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (path.parent / target).exists(), f"{path.name} links to {target}"


async def test_the_webhook_step_of_the_walkthrough(tmp_path: Path) -> None:
    """Step 11: a webhook created as the README does, and its one-command receiver, which
    verifies every delivery and refuses a forged one."""
    import json
    import socket
    import subprocess

    from tests.http.conftest import bearer, http_config, running

    walkthrough = _readme().split("**11. A webhook.**", 1)[1].split("\n## ", 1)[0]
    create = re.search(r"--json '(\{\"url\".*?\})' \$URL/v1/webhooks", walkthrough)
    command = re.search(r"^(python3 examples/webhook_receiver\.py) hook\.json$", walkthrough, re.M)
    assert create is not None and command is not None
    with socket.socket() as s:  # the README's port 9000 may be taken here: a free one
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    body = json.loads(create[1].replace("9000", str(port)))
    config = http_config(tmp_path, webhook_allow_private=True)
    async with running(config) as srv:
        _, token = await srv.tenant("acme")
        await srv.session(token, "sales", "5511900000001")
        r = await srv.http.post("/v1/webhooks", json=body, headers=bearer(token))
        hook = tmp_path / "hook.json"
        hook.write_text(r.text)
        receiver = await trio.lowlevel.open_process(
            [sys.executable, *command[1].split()[1:], str(hook)],
            cwd=README.parent,
            stdout=subprocess.PIPE,
        )
        assert receiver.stdout is not None
        out = b""
        try:
            with trio.fail_after(20):
                while b"listening on" not in out:
                    out += await receiver.stdout.receive_some()
                test = await srv.http.post(
                    f"/v1/webhooks/{r.json()['id']}/test", headers=bearer(token)
                )
                assert test.json()["status_code"] == 204, test.text
                await srv.http.post(
                    "/v1/sessions/sales/sim/inbound",
                    json={"from": "5511987654321", "text": "is this the shop?"},
                    headers=bearer(token),
                )
                while b"is this the shop?" not in out:
                    out += await receiver.stdout.receive_some()
                forged = await srv.http.post(
                    body["url"],
                    content=b"{}",
                    headers={
                        "webhook-id": "x",
                        "webhook-timestamp": "1",
                        "webhook-signature": "v1,x",
                    },
                )
                assert forged.status_code == 401
        finally:
            receiver.kill()
            await receiver.wait()
    lines = out.decode().splitlines()
    assert any(line.startswith("verified") and "webhook.test" in line for line in lines)
    assert any(line.startswith("verified") and "message.received" in line for line in lines)


def _like(shown: dict[str, Any]) -> Any:
    return lambda e: _same(shown, _without_seq(e))


async def test_the_group_step_of_the_walkthrough(tmp_path: Path) -> None:
    """Step 12: its commands, run against a server with the walkthrough's two sessions,
    print what it shows (an invite link's code is the run's own), and the client's events
    are among the tenant's."""
    from tests.http.conftest import bearer, http_config, running

    step = _readme().split("**12. A group.**", 1)[1].split("**13. ", 1)[0]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", step, re.M | re.S)
    commands = [text for lang, text in blocks if lang == "sh"]
    outputs = [text for lang, text in blocks if lang == "json"]
    async with running(http_config(tmp_path)) as srv:
        _, token = await srv.tenant("acme")
        await srv.session(token, "sales", "5511900000001")
        await srv.session(token, "support", "5511900000002")
        group = ""
        printed: list[list[str]] = []
        for block in commands:
            lines: list[str] = []
            for line in block.splitlines():
                if not line.startswith("curl"):
                    continue
                line = line.replace("'$GROUP'", group).replace("$GROUP", group)
                body = re.search(r"--json '(\{.*?\})'", line)
                where = re.search(r"\$URL(\S+)", line)
                assert where is not None, line
                r = await srv.http.request(
                    "POST" if body else "GET",
                    where[1],
                    content=body[1] if body else None,
                    headers=bearer(token) | ({"Content-Type": "application/json"} if body else {}),
                )
                lines.append(r.text)
                if where[1].endswith("/groups"):
                    group = r.json()["jid"]
            printed.append(lines)
        creation, rules = printed
        assert _matches(outputs[0], "json", creation), creation
        link = json.loads(rules[1])["link"]
        assert re.fullmatch(r"https://chat\.whatsapp\.com/[A-Za-z0-9]{22}", link)
        shown = outputs[2].replace(json.loads(outputs[2].splitlines()[1])["link"], link)
        assert _matches(shown, "json", rules), rules
        wanted = [json.loads(line) for line in outputs[1].splitlines() if line.strip()]
        for frame in wanted:  # each comes, as shown (its seq is the run's own)
            await srv.wait_event(token, _like(_without_seq(frame)))
