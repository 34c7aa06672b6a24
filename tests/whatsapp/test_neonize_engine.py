"""The neonize adapter in process, offline: store, dial failure, readiness, the Go lock."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
import trio
import trio.testing

from trizap.protocol.outgoing import OutgoingText
from trizap.whatsapp.engine import (
    EngineEvent,
    EngineFailure,
    EngineNotReady,
    EngineSpec,
    EngineUnreachable,
)
from trizap.whatsapp.neonize_engine import GoLock, NeonizeEngine, SentIds, new_wa_message_id

pytest.importorskip("neonize")


async def test_offline_run_creates_a_wal_store_and_ends_unreachable_with_the_dial_error(
    tmp_path: Path,
) -> None:
    """Not a crash (`EngineUnreachable`): its host dials again later, in a new process."""
    data_dir = tmp_path / "sessions" / "t1"
    engine = NeonizeEngine(EngineSpec("t1", "s1", None, data_dir), go_lock=GoLock())
    send, _events = trio.open_memory_channel[EngineEvent](16)
    with (
        trio.fail_after(20),
        pytest.raises(EngineUnreachable, match="failed to dial whatsapp web"),
    ):
        await engine.run(send)
    store = data_dir / "s1.db"
    assert engine.store == str(store)
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert any(name.startswith("whatsmeow_") for name in tables)
    # credentials: owner-only, whatever the umask (DESIGN §8)
    for path in (tmp_path / "sessions", data_dir):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in data_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_commands_need_a_connection_and_pairing_needs_a_qr(tmp_path: Path) -> None:
    engine = NeonizeEngine(EngineSpec("t1", "s1", None, tmp_path), go_lock=GoLock())
    with pytest.raises(EngineNotReady):
        await engine.send(OutgoingText("5511999990002", "hi"), engine.new_message_id())
    with pytest.raises(EngineNotReady):
        await engine.mark_read("5511999990002@s.whatsapp.net", ["3EB0"], None)
    with pytest.raises(EngineNotReady):
        await engine.pair_phone("5511999990001")
    with pytest.raises(EngineNotReady):
        await engine.logout()


def test_each_engine_has_its_own_client_uuid_and_rejects_unsafe_names(tmp_path: Path) -> None:
    spec = EngineSpec("t1", "s1", None, tmp_path)
    assert NeonizeEngine(spec, go_lock=GoLock()).uuid != NeonizeEngine(spec, go_lock=GoLock()).uuid
    pg = NeonizeEngine(spec, go_lock=GoLock(), store_url="postgres://db/trizap")
    # whatsmeow's driver reads the URL as libpq would: SSL if the server has it.
    assert pg.store == "postgres://db/trizap?sslmode=prefer"
    pinned = "postgresql://db/trizap?sslmode=require"
    assert NeonizeEngine(spec, go_lock=GoLock(), store_url=pinned).store == pinned
    with pytest.raises(EngineFailure):
        NeonizeEngine(EngineSpec("t1", "../escape", None, tmp_path), go_lock=GoLock())


def test_message_ids_have_whatsmeows_shape() -> None:
    ids = {new_wa_message_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 22 and i.startswith("3EB0") and i == i.upper() for i in ids)


def test_sent_ids_make_retries_idempotent_and_translate_receipts(tmp_path: Path) -> None:
    table = SentIds(tmp_path / "s1.sent.db")
    assert table.sent_as("3EB0MINE") is None
    table.record("3EB0MINE", "3EB0GO")
    table.close()
    reopened = SentIds(tmp_path / "s1.sent.db")  # survives a worker restart
    assert reopened.sent_as("3EB0MINE") == "3EB0GO"
    assert reopened.to_wa_ids(["3EB0GO", "OTHER"]) == ("3EB0MINE", "OTHER")
    reopened.close()


async def test_go_lock_start_and_stop_exclude_every_other_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lock = GoLock()
    log: list[str] = []

    async def call(name: str, exclusive: bool, hold: float) -> None:
        async with lock.exclusive() if exclusive else lock.shared():
            log.append(f"+{name}")
            await trio.sleep(hold)
            log.append(f"-{name}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call, "send1", False, 2)
        nursery.start_soon(call, "send2", False, 2)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(call, "stop", True, 1)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(call, "send3", False, 1)  # waits behind the waiting stop
    assert sorted(log[:2]) == ["+send1", "+send2"]  # shared calls overlap
    assert log.index("+stop") > log.index("-send2") and log.index("+stop") > log.index("-send1")
    assert log.index("+send3") > log.index("-stop")


class FakeClient:
    """Stands in for neonize's client at the engine's calls, recording them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def upload(self, data: object, media_type: object) -> object:
        from neonize.proto.Neonize_pb2 import UploadResponse

        self.calls.append(("upload", (data, media_type)))
        return UploadResponse(url="https://mmg/x", DirectPath="/x", FileLength=7)

    def send_message(self, to: object, message: object) -> object:
        from neonize.proto.Neonize_pb2 import SendResponse

        self.calls.append(("send_message", (to, message)))
        return SendResponse(ID=f"REAL{len(self.calls)}")

    def build_reaction(self, chat: object, sender: object, target: str, emoji: str) -> object:
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message, ReactionMessage

        self.calls.append(("build_reaction", (chat, sender, target, emoji)))
        return Message(reactionMessage=ReactionMessage(text=emoji))

    def download_any(self, message: object) -> bytes:
        self.calls.append(("download_any", (message,)))
        return b"x" * 600_000


class Reader:
    def __init__(self, data: bytes) -> None:
        self._data, self.size = data, len(data)

    async def read(self, max_bytes: int) -> bytes:
        await trio.lowlevel.checkpoint()
        out, self._data = self._data[:max_bytes], self._data[max_bytes:]
        return out


async def test_files_go_to_neonize_as_bytes_never_as_a_path_or_url(tmp_path: Path) -> None:
    """A file is read from the session and handed to `upload` as bytes (neonize's
    `build_*_message` would take a string for a path or a URL to fetch); a retried id is
    not sent twice; a download is handed over in pieces."""
    import base64

    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ImageMessage
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WaMessage

    from trizap.protocol.media import MediaRef
    from trizap.protocol.outgoing import OutgoingImage, OutgoingReaction
    from trizap.whatsapp.engine import MEDIA_CHUNK, InboundMedia

    engine = NeonizeEngine(EngineSpec("t1", "s1", None, tmp_path), go_lock=GoLock())
    client = FakeClient()
    engine._client = client
    engine._connected = True
    engine._sent = SentIds(tmp_path / "sent.db")
    image = OutgoingImage(
        "5511999990002",
        MediaRef(id="https://evil.example/x.png", mimetype="image/png", size=7),
        caption="/etc/passwd",
    )
    await engine.send(image, "3EB0A", Reader(b"\x89PNG..."))
    await engine.send(image, "3EB0A", Reader(b"\x89PNG..."))  # a retry: sent once
    (name, (data, _)), (sent, (to, message)) = client.calls
    assert (name, data) == ("upload", b"\x89PNG...")
    assert sent == "send_message" and to.User == "5511999990002"  # type: ignore[attr-defined]
    assert message.imageMessage.caption == "/etc/passwd"  # type: ignore[attr-defined]
    assert message.imageMessage.URL == "https://mmg/x"  # type: ignore[attr-defined]
    # A reaction to the session's own message names the session as the sender.
    engine._own_jid = "5511999990001@s.whatsapp.net"
    await engine.send(OutgoingReaction("5511999990002", "3EB0A", "👍"), "3EB0R")
    assert client.calls[2][0] == "build_reaction"
    assert client.calls[2][1][1].User == "5511999990001"  # type: ignore[union-attr]

    handle = base64.b64encode(
        WaMessage(imageMessage=ImageMessage(URL="https://mmg/y")).SerializeToString()
    ).decode()
    pieces: list[bytes] = []

    async def sink(piece: bytes) -> None:
        pieces.append(piece)

    await engine.download(InboundMedia(handle, "image/jpeg", 600_000), sink)
    assert b"".join(pieces) == b"x" * 600_000 and max(map(len, pieces)) <= MEDIA_CHUNK
    assert client.calls[-1][1][0].imageMessage.URL == "https://mmg/y"  # type: ignore[attr-defined]
    engine._sent.close()


class ChatClient:
    """neonize's client at the chat, contact and presence calls, answering as WhatsApp."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def is_on_whatsapp(self, *numbers: str) -> object:
        from neonize.proto.Neonize_pb2 import JID, IsOnWhatsAppResponse

        self.calls.append(("is_on_whatsapp", numbers))
        on = JID(User="5511999990002", Server="s.whatsapp.net", Device=0, RawAgent=0,
                 Integrator=0, IsEmpty=False)  # fmt: skip
        return [IsOnWhatsAppResponse(Query="+5511999990002", JID=on, IsIn=True)]

    def get_profile_picture(self, jid: object) -> object:
        from neonize.exc import GetProfilePictureError
        from neonize.proto.Neonize_pb2 import ProfilePictureInfo

        self.calls.append(("get_profile_picture", (jid,)))
        if jid.User == "5511999990003":  # type: ignore[attr-defined]
            raise GetProfilePictureError("item-not-found")
        return ProfilePictureInfo(URL="https://pps.whatsapp.net/p.jpg", ID="42")

    def send_chat_presence(self, jid: object, state: object, media: object) -> None:
        self.calls.append(("send_chat_presence", (jid, state, media)))

    def send_presence(self, presence: object) -> None:
        self.calls.append(("send_presence", (presence,)))

    def subscribe_presence(self, jid: object) -> None:
        self.calls.append(("subscribe_presence", (jid,)))


async def test_checks_pictures_and_presence_go_to_neonize(tmp_path: Path) -> None:
    from neonize.utils.enum import ChatPresence, ChatPresenceMedia, Presence

    from trizap.whatsapp.engine import OnWhatsApp

    engine = NeonizeEngine(EngineSpec("t1", "s1", None, tmp_path), go_lock=GoLock())
    client = ChatClient()
    engine._client = client
    engine._connected = True
    found = await engine.is_on_whatsapp(["5511999990002", "5511999990009"])
    assert found == [
        OnWhatsApp("5511999990002", True, "5511999990002@s.whatsapp.net"),
        OnWhatsApp("5511999990009", False, None),
    ]
    assert client.calls[0] == ("is_on_whatsapp", ("+5511999990002", "+5511999990009"))
    picture = await engine.profile_picture("5511999990002@s.whatsapp.net")
    assert picture is not None and picture.id == "42"
    assert await engine.profile_picture("5511999990003@s.whatsapp.net") is None

    client.calls.clear()
    await engine.send_chat_presence("5511999990002@s.whatsapp.net", "recording")
    await engine.send_chat_presence("5511999990002@s.whatsapp.net", "paused")
    await engine.send_presence("available")
    names = [name for name, _ in client.calls]
    # Showing a chat state follows the person (once): their typing comes back.
    assert names == [
        "send_chat_presence",
        "subscribe_presence",
        "send_chat_presence",
        "send_presence",
    ]
    _, (to, state, media) = client.calls[0]
    assert to.User == "5511999990002"  # type: ignore[attr-defined]
    assert (state, media) == (
        ChatPresence.CHAT_PRESENCE_COMPOSING,
        ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO,
    )
    assert client.calls[2][1][1] == ChatPresence.CHAT_PRESENCE_PAUSED
    assert client.calls[3][1] == (Presence.AVAILABLE,)

    engine._connected = False
    with pytest.raises(EngineNotReady):
        await engine.send_presence("unavailable")
