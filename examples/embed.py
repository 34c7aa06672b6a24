"""Embedding trizap in a trio program: no HTTP, just the actors.

Two tenants, each with a sim WhatsApp session; one sends the other a message, and we watch
it arrive and its receipts come back. Run it with `python examples/embed.py`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import trio

from trizap import Config, OutgoingText, Subscription, open_runtime
from trizap.store import EventRow


async def wait_for(
    sub: Subscription, type: str, session: str, status: str | None = None
) -> EventRow:
    """The next event of `type` for `session` (with that `status`, if given)."""
    async for event in sub:
        matches = event.type == type and event.session == session
        if matches and (status is None or event.data.get("status") == status):
            return event
    raise RuntimeError("subscription ended")


async def main(data_dir: Path) -> None:
    config = Config(
        data_dir=data_dir, default_engine="sim", sim_delivery_delay=0.01, sim_read_delay=0.05
    )
    async with open_runtime(config) as rt:
        shop, _ = await rt.tenants.create("shop")
        bank, _ = await rt.tenants.create("bank")
        async with (
            rt.events.subscribe(shop.id) as shop_events,
            rt.events.subscribe(bank.id) as bank_events,
        ):
            for tenant, name, phone, events in [
                (shop.id, "sales", "5511900000001", shop_events),
                (bank.id, "alerts", "5511900000002", bank_events),
            ]:
                await rt.sessions.create(tenant, name)
                qr = await wait_for(events, "session.qr", name)
                print(f"{name}: scan this QR -> {qr.data['qr'][:32]}...")
                await rt.sessions.sim_scan(tenant, name, phone)  # the simulated phone scans it
                await wait_for(events, "session.status", name, "connected")
                print(f"{name}: connected as {phone}")

            message, _ = await rt.messages.send(
                shop.id, "sales", OutgoingText("5511900000002", "Your order shipped")
            )
            received = await wait_for(bank_events, "message.received", "alerts")
            print(f"alerts received {received.data['text']!r} from {received.data['from']}")
            for status in ("sent", "delivered", "read"):
                await wait_for(shop_events, "message.status", "sales", status)
                print(f"sales: message {message.id} is {status}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        trio.run(main, Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp))
