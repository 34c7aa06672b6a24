"""Every kind of message from one sim session to another, through the library API, on
virtual time: what the receiving session's events say, and what its media store holds."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests import media_samples as samples
from tests.runtime.conftest import next_event, of_type, sim_config
from tests.runtime.test_flow import pair
from trizap.domain.hub import Subscription
from trizap.protocol.commands import (
    SendAudio,
    SendContact,
    SendDocument,
    SendEdit,
    SendImage,
    SendLocation,
    SendPoll,
    SendPollVote,
    SendReaction,
    SendRevoke,
    SendSticker,
    SendText,
    SendVideo,
)
from trizap.protocol.content import Contact, Location, Poll
from trizap.protocol.errors import InvalidState, ValidationError
from trizap.protocol.media import MediaById, MediaInline
from trizap.runtime import Runtime, open_runtime
from trizap.store.base import EventRow
from trizap.whatsapp.engine import EngineSpec, InboundMedia, MediaSink
from trizap.whatsapp.sim import SimEngine, SimNetwork, engine_factory, open_sim_network

SALES, SUPPORT = "5511900000001", "5511900000002"
SALES_JID = f"{SALES}@s.whatsapp.net"


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def stored(rt: Runtime, tenant_id: str, media_id: str) -> bytes:
    row = await rt.media.get(tenant_id, media_id)
    return b"".join([c async for c in rt.media.chunks(row)])


async def two_sessions(rt: Runtime) -> tuple[str, str]:
    acme, _ = await rt.tenants.create("acme")
    globex, _ = await rt.tenants.create("globex")
    await pair(rt, acme.id, "sales", SALES)
    await pair(rt, globex.id, "support", SUPPORT)
    return acme.id, globex.id


async def received(sub: Subscription, type_: str = "message.received") -> EventRow:
    return await next_event(sub, of_type(type_, "support"))


async def test_every_kind_arrives_with_its_content(rt: Runtime, autojump_clock: object) -> None:
    acme, globex = await two_sessions(rt)
    image = await rt.media.upload(acme, chunks(samples.PNG), "image/png", "photo.png")
    async with rt.events.subscribe(globex) as sub:
        sent: dict[str, Any] = {}

        async def send(message: Any) -> EventRow:
            row, created = await rt.messages.send(acme, "sales", message)
            assert created
            sent[message.type] = row
            return await received(sub)

        ev = await send(SendText(SUPPORT, "hello @5511900000002", mentions=(SUPPORT,)))
        assert (ev.data["kind"], ev.data["text"]) == ("text", "hello @5511900000002")
        assert ev.data["mentions"] == [f"{SUPPORT}@s.whatsapp.net"]

        ev = await send(SendImage(SUPPORT, MediaById(image.id), caption="look"))
        assert (ev.data["kind"], ev.data["caption"]) == ("image", "look")
        media = ev.data["media"]
        assert media["mimetype"] == "image/png" and media["size"] == len(samples.PNG)
        assert media["sha256"] == image.sha256 and media["filename"] == "photo.png"
        # The receiving tenant has its own copy, under its own id.
        assert media["id"] != image.id
        assert await stored(rt, globex, media["id"]) == samples.PNG

        inline = MediaInline(base64.b64encode(samples.MP4).decode(), "video/mp4")
        ev = await send(SendVideo(SUPPORT, inline, caption="clip"))
        assert (ev.data["kind"], ev.data["caption"]) == ("video", "clip")
        assert await stored(rt, globex, ev.data["media"]["id"]) == samples.MP4

        voice = MediaInline(base64.b64encode(samples.OGG_OPUS).decode(), "audio/ogg; codecs=opus")
        ev = await send(SendAudio(SUPPORT, voice, ptt=True))
        assert ev.data["kind"] == "audio" and ev.data["media"]["ptt"] is True
        assert ev.data["media"]["mimetype"] == "audio/ogg; codecs=opus"

        pdf = MediaInline(base64.b64encode(samples.PDF).decode(), "application/pdf")
        ev = await send(SendDocument(SUPPORT, pdf, caption="the contract", filename="c.pdf"))
        assert ev.data["kind"] == "document" and ev.data["media"]["filename"] == "c.pdf"
        assert await stored(rt, globex, ev.data["media"]["id"]) == samples.PDF

        webp = MediaInline(base64.b64encode(samples.WEBP).decode(), "image/webp")
        ev = await send(SendSticker(SUPPORT, webp))
        assert ev.data["kind"] == "sticker" and ev.data["media"]["mimetype"] == "image/webp"

        place = Location(-23.5505, -46.6333, name="Sé", address="Praça da Sé")
        ev = await send(SendLocation(SUPPORT, place))
        assert ev.data["kind"] == "location"
        assert ev.data["location"] == {
            "latitude": -23.5505,
            "longitude": -46.6333,
            "name": "Sé",
            "address": "Praça da Sé",
        }

        ev = await send(SendContact(SUPPORT, Contact("Bob", "5511988887777")))
        assert ev.data["contact"] == {"name": "Bob", "phone": "5511988887777"}

        ev = await send(SendPoll(SUPPORT, Poll("Lunch?", ["pizza", "sushi", "salad"], 2)))
        assert ev.data["kind"] == "poll"
        assert ev.data["poll"] == {
            "question": "Lunch?",
            "options": ["pizza", "sushi", "salad"],
            "selectable": 2,
        }
        poll_id = ev.data["id"]

        text_id = (await rt.messages.get(acme, "sales", sent["text"].id)).wa_id
        assert text_id is not None
        await rt.messages.send(acme, "sales", SendReaction(SUPPORT, text_id, "👍"))
        ev = await received(sub, "message.reaction")
        assert ev.data["target"] == text_id and ev.data["emoji"] == "👍"
        assert ev.data["from"] == SALES_JID

        await rt.messages.send(acme, "sales", SendEdit(SUPPORT, text_id, "hello, edited"))
        ev = await received(sub, "message.edited")
        assert (ev.data["target"], ev.data["text"]) == (text_id, "hello, edited")

        await rt.messages.send(acme, "sales", SendRevoke(SUPPORT, text_id))
        ev = await received(sub, "message.revoked")
        assert ev.data["target"] == text_id

        # The other side answers the poll, quoting it, and the votes come back.
        async with rt.events.subscribe(acme) as acme_events:
            await rt.messages.send(
                globex, "support", SendText(SALES, "voting now", reply_to=poll_id)
            )
            got = await next_event(acme_events, of_type("message.received", "sales"))
            assert got.data["reply_to"] == poll_id


async def test_a_contact_votes_and_reacts_through_the_sim(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, globex = await two_sessions(rt)
    async with rt.events.subscribe(globex) as sub:
        poll = SendPoll(SALES, Poll("Lunch?", ["pizza", "sushi"]))
        await rt.messages.send(globex, "support", poll)
        await next_event(sub, lambda r: r.type == "message.status" and r.data["status"] == "sent")
        row = (await rt.messages.list(globex, "support"))[0]
        assert row.wa_id is not None
        vote = SendPollVote(SUPPORT, row.wa_id, ("sushi",))
        await rt.sessions.sim_inbound(globex, "support", "5511987654321", vote)
        ev = await received(sub, "poll.vote")
        assert ev.data["options"] == ["sushi"] and ev.data["target"] == row.wa_id
        assert ev.data["from"] == "5511987654321@s.whatsapp.net"

        png = MediaInline(base64.b64encode(samples.JPEG).decode(), "image/jpeg")
        await rt.sessions.sim_inbound(
            globex, "support", "5511987654321", SendImage(SUPPORT, png, caption="from a contact")
        )
        ev = await received(sub)
        assert ev.data["caption"] == "from a contact"
        assert await stored(rt, globex, ev.data["media"]["id"]) == samples.JPEG
    # The file the contact's phone sent was only on its way: the tenant keeps one copy.
    assert await rt.deps.store.media_usage(globex) == len(samples.JPEG)
    del acme


async def test_targets_are_checked_before_anything_is_queued(
    rt: Runtime, autojump_clock: object
) -> None:
    acme, globex = await two_sessions(rt)
    async with rt.events.subscribe(acme) as sub:
        await rt.messages.send(globex, "support", SendText(SALES, "hi sales"))
        theirs = (await next_event(sub, of_type("message.received", "sales"))).data["id"]
    before = await rt.messages.list(acme, "sales")
    with pytest.raises(ValidationError) as exc:
        await rt.messages.send(acme, "sales", SendEdit(SUPPORT, theirs, "not mine"))
    assert exc.value.errors[0][0] == "body.target"
    with pytest.raises(ValidationError):
        await rt.messages.send(acme, "sales", SendRevoke(SUPPORT, "3EB0NOTMINE"))
    with pytest.raises(ValidationError) as exc:
        await rt.messages.send(acme, "sales", SendReaction(SUPPORT, "3EB0UNKNOWN", "🔥"))
    assert "sent or received" in exc.value.errors[0][1]
    assert await rt.messages.list(acme, "sales") == before
    # A message the session received can be reacted to.
    async with rt.events.subscribe(globex) as sub:
        await rt.messages.send(acme, "sales", SendReaction(SUPPORT, theirs, "🔥"))
        ev = await next_event(sub, of_type("message.reaction", "support"))
        assert ev.data["emoji"] == "🔥"


async def test_a_queued_message_can_be_cancelled_once(rt: Runtime, autojump_clock: object) -> None:
    tenant, _ = await rt.tenants.create("acme")
    acme = tenant.id
    await pair(rt, acme, "sales", SALES)
    await rt.sessions.stop(acme, "sales")
    row, _ = await rt.messages.send(acme, "sales", SendText(SUPPORT, "never mind"))
    async with rt.events.subscribe(acme) as sub:
        cancelled = await rt.messages.cancel(acme, "sales", row.id)
        assert cancelled.status == "cancelled"
        ev = await next_event(sub, of_type("message.status", "sales"))
        assert (ev.data["id"], ev.data["status"]) == (row.id, "cancelled")
        with pytest.raises(InvalidState):
            await rt.messages.cancel(acme, "sales", row.id)
        await rt.sessions.start(acme, "sales")
        later, _ = await rt.messages.send(acme, "sales", SendText(SUPPORT, "this one goes"))
        ev = await next_event(
            sub, lambda r: r.type == "message.status" and r.data["status"] == "sent"
        )
        assert ev.data["id"] == later.id
    assert (await rt.messages.get(acme, "sales", row.id)).status == "cancelled"
    with pytest.raises(InvalidState):
        await rt.messages.cancel(acme, "sales", later.id)


# --- a file whose download loses the connection -----------------------------------------------


class LosesTheLinkOnFirstDownloads:
    """A sim engine whose connection to the network drops in the middle of its first
    `downloads` downloads (WhatsApp going away while a file comes in)."""

    def __init__(self, engine: SimEngine, network: SimNetwork, downloads: int) -> None:
        self._engine, self._network, self.left = engine, network, downloads

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)

    async def download(self, media: InboundMedia, sink: MediaSink) -> None:
        link = self._network.holder(SUPPORT)
        if self.left > 0 and link is not None:  # (a retry may come before it is back)
            self.left -= 1
            link.close()  # the connection is gone: the engine reconnects by itself
        await self._engine.download(media, sink)


@pytest.mark.parametrize("drops", [1, 3])
async def test_a_file_whose_download_loses_the_connection_arrives_whole_once(
    tmp_path: Path, drops: int, autojump_clock: object
) -> None:
    """The dangerous moment: the message is in the session's hands, its file half-way,
    when the connection drops. The session asks again once the engine is back, and the
    event carries the file (not `id: null`), once; the sender hears `delivered`."""
    async with open_sim_network(seed=1, read_delay_s=None, inline=True) as net:
        sims = engine_factory(net.connect)
        wrapped: list[LosesTheLinkOnFirstDownloads] = []

        def factory(spec: EngineSpec) -> Any:
            if spec.session != "support":
                return sims(spec)
            wrapped.append(LosesTheLinkOnFirstDownloads(sims(spec), net, drops))
            return wrapped[-1]

        async with open_runtime(
            sim_config(tmp_path), engines={"sim": factory}, store_thread=False
        ) as rt:
            acme, globex = await two_sessions(rt)
            pdf = MediaInline(base64.b64encode(samples.PDF).decode(), "application/pdf")
            async with rt.events.subscribe(acme) as sales, rt.events.subscribe(globex) as sub:
                row, _ = await rt.messages.send(acme, "sales", SendDocument(SUPPORT, pdf))
                ev = await received(sub)
                await next_event(
                    sales,
                    lambda r: (
                        r.type == "message.status"
                        and r.data["id"] == row.id
                        and r.data["status"] == "delivered"
                    ),
                )
            assert [w.left for w in wrapped] == [0]  # every drop happened
            assert ev.data["media"]["id"] is not None, ev.data["media"]
            assert await stored(rt, globex, ev.data["media"]["id"]) == samples.PDF
            log, _ = await rt.events.read(globex, after=0, limit=1000)
            assert [e.data["id"] for e in log if e.type == "message.received"] == [ev.data["id"]]
