"""The chat store's SQL (see `store.chats`): chats, their messages, contacts and the LID
<-> phone mapping, for both databases.

Pages are keyset ranges on an index: chats by `(updated_at, jid)` descending, a chat's
messages by `(at, wa_id)` descending, contacts by `jid`; `before`/`after` name the last
row of the previous page, so a page costs the same wherever it starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Final

from ...protocol.errors import NotFound
from ..chats import ChatMessageRow, ChatRow, ContactRow, HistoryChat, NewChatMessage, NewContact
from .codecs import dumps, from_us, loads, to_us
from .dialect import Db, SqlDialect

CHAT_COLS: Final = "jid, kind, name, last_message, unread, updated_at"
CHAT_MESSAGE_COLS: Final = "tenant_id, session, chat, wa_id, sender, from_me, at, unread, data"

_UPSERT_CHAT: Final = (
    "INSERT INTO chats (tenant_id, session, jid, kind, name, last_message, last_at, unread, "
    "updated_at) VALUES (:t, :s, :jid, :kind, :name, :last, :last_at, :unread, :at) "
    "ON CONFLICT (tenant_id, session, jid) DO UPDATE SET "
    "name = coalesce(chats.name, excluded.name), "
    "unread = chats.unread + excluded.unread, "
    "last_message = CASE WHEN chats.last_at IS NULL OR excluded.last_at >= chats.last_at "
    "THEN excluded.last_message ELSE chats.last_message END, "
    "last_at = CASE WHEN chats.last_at IS NULL OR excluded.last_at >= chats.last_at "
    "THEN excluded.last_at ELSE chats.last_at END, "
    "updated_at = CASE WHEN excluded.updated_at > chats.updated_at "
    "THEN excluded.updated_at ELSE chats.updated_at END"
)
# History sync's view of a chat: its name wins over a push name, its unread count over
# ours unless we saw something newer.
_UPSERT_HISTORY_CHAT: Final = (
    "INSERT INTO chats (tenant_id, session, jid, kind, name, unread, updated_at) "
    "VALUES (:t, :s, :jid, :kind, :name, :unread, :at) "
    "ON CONFLICT (tenant_id, session, jid) DO UPDATE SET "
    "name = coalesce(excluded.name, chats.name), "
    "unread = CASE WHEN excluded.updated_at >= chats.updated_at "
    "THEN excluded.unread ELSE chats.unread END, "
    "updated_at = CASE WHEN excluded.updated_at > chats.updated_at "
    "THEN excluded.updated_at ELSE chats.updated_at END"
)
# Rows per multi-row statement: 9 parameters each, far below SQLite's 32,766.
_ROWS: Final = 500


def _kind(jid: str) -> str:
    return "group" if jid.endswith("@g.us") else "user"


def _last(m: NewChatMessage, at: int) -> str:
    d = m.data
    return dumps(
        {
            "id": m.wa_id,
            "from": m.sender,
            "from_me": m.from_me,
            "kind": d.get("kind", "text"),
            "text": d.get("text") if d.get("text") is not None else d.get("caption"),
            "timestamp": at,
        }
    )


def _chat(tenant_id: str, session: str, r: Any) -> ChatRow:
    return ChatRow(tenant_id, session, r[0], r[1], r[2], r[3], r[4], from_us(r[5]))


def _message(r: Any) -> ChatMessageRow:
    return ChatMessageRow(
        tenant_id=r[0],
        session=r[1],
        chat=r[2],
        wa_id=r[3],
        sender=r[4],
        from_me=bool(r[5]),
        at=from_us(r[6]),
        unread=bool(r[7]),
        data=loads(r[8]),
    )


class ChatQueries:
    dialect: ClassVar[SqlDialect]

    def record_chats(
        self,
        db: Db,
        tenant_id: str,
        session: str,
        messages: Sequence[NewChatMessage],
        chats: Sequence[HistoryChat],
    ) -> int:
        q = self.dialect
        key = {"t": tenant_id, "s": session}
        try:
            with q.tx(db):
                for c in chats:
                    at = 0 if c.at is None else to_us(c.at)
                    q.run(
                        db,
                        _UPSERT_HISTORY_CHAT,
                        {
                            **key,
                            "jid": c.jid,
                            "kind": _kind(c.jid),
                            "name": q.text(c.name),
                            "unread": max(0, c.unread),
                            "at": at,
                        },
                    )
                # The chats' last times, in one statement per `_ROWS` chats.
                lasts: dict[str, int | None] = {}
                jids = list(dict.fromkeys(m.chat for m in messages))
                for i in range(0, len(jids), _ROWS):
                    cur = q.run(
                        db,
                        "SELECT jid, last_at FROM chats WHERE tenant_id = ? AND session = ? "
                        f"AND jid {q.any_of}",
                        (tenant_id, session, q.listed(jids[i : i + _ROWS])),
                    )
                    lasts.update({r[0]: r[1] for r in cur})
                timed: list[tuple[NewChatMessage, int]] = []
                for m in messages:
                    at, last = to_us(m.at), lasts.get(m.chat)
                    # WhatsApp's times are in seconds: within one second, arrival order.
                    if last is not None and last // 1_000_000 == at // 1_000_000 and at <= last:
                        at = last + 1
                    lasts[m.chat] = at if last is None else max(last, at)
                    timed.append((m, at))
                # Many rows per statement (one round trip each on PostgreSQL); those
                # stored already are skipped and not counted.
                stored: set[tuple[str, str]] = set()
                for i in range(0, len(timed), _ROWS):
                    part = timed[i : i + _ROWS]
                    marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(part))
                    params: list[Any] = []
                    for m, at in part:
                        params += (
                            tenant_id,
                            session,
                            m.chat,
                            m.wa_id,
                            m.sender,
                            int(m.from_me),
                            at,
                            int(m.unread),
                            q.text(dumps(m.data)),
                        )
                    cur = q.run(
                        db,
                        f"INSERT INTO chat_messages ({CHAT_MESSAGE_COLS}) VALUES {marks} "
                        "ON CONFLICT (tenant_id, session, chat, wa_id) DO NOTHING "
                        "RETURNING chat, wa_id",
                        params,
                    )
                    stored.update((r[0], r[1]) for r in cur)
                new: dict[str, list[tuple[NewChatMessage, int]]] = {}
                for m, at in timed:
                    if (m.chat, m.wa_id) in stored:
                        stored.discard((m.chat, m.wa_id))  # a duplicate in the batch: once
                        new.setdefault(m.chat, []).append((m, at))
                upserts = []
                for jid, filed in new.items():
                    newest, newest_at = max(filed, key=lambda f: f[1])
                    active = max(max(at, 0 if m.seen is None else to_us(m.seen)) for m, at in filed)
                    name = next((m.name for m, _ in reversed(filed) if m.name), None)
                    upserts.append(
                        {
                            **key,
                            "jid": jid,
                            "kind": _kind(jid),
                            "name": q.text(name),
                            "last": q.text(_last(newest, newest_at)),
                            "last_at": newest_at,
                            "unread": sum(1 for m, _ in filed if m.unread),
                            "at": active,
                        }
                    )
                if upserts:
                    q.run_many(db, _UPSERT_CHAT, upserts)
        except q.integrity_error as exc:
            if q.is_foreign_key(exc):
                raise NotFound(f"session {session!r} not found") from None
            raise
        return sum(len(v) for v in new.values())

    def get_chat(self, db: Db, tenant_id: str, session: str, jid: str) -> ChatRow | None:
        r = self.dialect.run(
            db,
            f"SELECT {CHAT_COLS} FROM chats WHERE tenant_id = ? AND session = ? AND jid = ?",
            (tenant_id, session, jid),
        ).fetchone()
        return None if r is None else _chat(tenant_id, session, r)

    def list_chats(
        self, db: Db, tenant_id: str, session: str, limit: int, before: str | None
    ) -> list[ChatRow] | None:
        q = self.dialect
        if before is None:
            cur = q.run(
                db,
                f"SELECT {CHAT_COLS} FROM chats WHERE tenant_id = ? AND session = ? "
                "ORDER BY updated_at DESC, jid DESC LIMIT ?",
                (tenant_id, session, limit),
            )
            return [_chat(tenant_id, session, r) for r in cur]
        last = q.run(
            db,
            "SELECT updated_at FROM chats WHERE tenant_id = ? AND session = ? AND jid = ?",
            (tenant_id, session, before),
        ).fetchone()
        if last is None:
            return None
        cur = q.run(
            db,
            f"SELECT {CHAT_COLS} FROM chats WHERE tenant_id = ? AND session = ? "
            "AND (updated_at, jid) < (?, ?) ORDER BY updated_at DESC, jid DESC LIMIT ?",
            (tenant_id, session, last[0], before, limit),
        )
        return [_chat(tenant_id, session, r) for r in cur]

    def chat_messages(
        self,
        db: Db,
        tenant_id: str,
        session: str,
        jid: str,
        limit: int,
        before: str | None,
    ) -> list[ChatMessageRow] | None:
        q = self.dialect
        if before is None:
            cur = q.run(
                db,
                f"SELECT {CHAT_MESSAGE_COLS} FROM chat_messages WHERE tenant_id = ? "
                "AND session = ? AND chat = ? ORDER BY at DESC, wa_id DESC LIMIT ?",
                (tenant_id, session, jid, limit),
            )
            return [_message(r) for r in cur]
        last = q.run(
            db,
            "SELECT at FROM chat_messages WHERE tenant_id = ? AND session = ? AND chat = ? "
            "AND wa_id = ?",
            (tenant_id, session, jid, before),
        ).fetchone()
        if last is None:
            return None
        cur = q.run(
            db,
            f"SELECT {CHAT_MESSAGE_COLS} FROM chat_messages WHERE tenant_id = ? "
            "AND session = ? AND chat = ? AND (at, wa_id) < (?, ?) "
            "ORDER BY at DESC, wa_id DESC LIMIT ?",
            (tenant_id, session, jid, last[0], before, limit),
        )
        return [_message(r) for r in cur]

    def unread_messages(
        self, db: Db, tenant_id: str, session: str, jid: str, ids: Sequence[str] | None
    ) -> list[tuple[str, str]]:
        q = self.dialect
        if ids is not None:
            cur = q.run(
                db,
                "SELECT wa_id, sender FROM chat_messages WHERE tenant_id = ? AND session = ? "
                f"AND chat = ? AND wa_id {q.any_of}",
                (tenant_id, session, jid, q.listed(ids)),
            )
            return [(r[0], r[1]) for r in cur]
        cur = q.run(
            db,
            "SELECT wa_id, sender FROM chat_messages WHERE tenant_id = ? AND session = ? "
            "AND chat = ? AND unread = 1 ORDER BY at",
            (tenant_id, session, jid),
        )
        found = [(r[0], r[1]) for r in cur]
        if found:
            return found
        chat = self.get_chat(db, tenant_id, session, jid)
        if chat is None or chat.unread == 0:
            return []
        newest = q.run(
            db,
            "SELECT wa_id, sender FROM chat_messages WHERE tenant_id = ? AND session = ? "
            "AND chat = ? AND from_me = 0 ORDER BY at DESC, wa_id DESC LIMIT 1",
            (tenant_id, session, jid),
        ).fetchone()
        return [] if newest is None else [(newest[0], newest[1])]

    def mark_chat_read(
        self,
        db: Db,
        tenant_id: str,
        session: str,
        jid: str,
        ids: Sequence[str],
        everything: bool,
    ) -> ChatRow | None:
        q = self.dialect
        key = (tenant_id, session, jid)
        with q.tx(db):
            n = 0
            if ids:
                n = len(
                    q.run(
                        db,
                        "UPDATE chat_messages SET unread = 0 WHERE tenant_id = ? AND session = ? "
                        f"AND chat = ? AND unread = 1 AND wa_id {q.any_of} RETURNING wa_id",
                        (*key, q.listed(ids)),
                    ).fetchall()
                )
            if everything:
                q.run(
                    db,
                    "UPDATE chats SET unread = (SELECT count(*) FROM chat_messages m "
                    "WHERE m.tenant_id = chats.tenant_id AND m.session = chats.session "
                    "AND m.chat = chats.jid AND m.unread = 1) "
                    "WHERE tenant_id = ? AND session = ? AND jid = ?",
                    key,
                )
            elif n:
                q.run(
                    db,
                    "UPDATE chats SET unread = CASE WHEN unread > ? THEN unread - ? ELSE 0 END "
                    "WHERE tenant_id = ? AND session = ? AND jid = ?",
                    (n, n, *key),
                )
            return self.get_chat(db, tenant_id, session, jid)

    # -- contacts and LIDs -----------------------------------------------------------------

    def put_contacts(
        self,
        db: Db,
        tenant_id: str,
        session: str,
        contacts: Sequence[NewContact],
        at: datetime,
    ) -> None:
        q = self.dialect
        phones = self.resolve_lids(db, tenant_id, session, [c.jid for c in contacts])
        try:
            with q.tx(db):
                for c in contacts:
                    q.run(
                        db,
                        "INSERT INTO contacts (tenant_id, session, jid, name, push_name, "
                        "updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (tenant_id, session, jid) DO UPDATE SET "
                        "name = coalesce(excluded.name, contacts.name), "
                        "push_name = coalesce(excluded.push_name, contacts.push_name), "
                        "updated_at = excluded.updated_at",
                        (
                            tenant_id,
                            session,
                            phones.get(c.jid, c.jid),
                            q.text(c.name or None),
                            q.text(c.push_name or None),
                            to_us(at),
                        ),
                    )
        except q.integrity_error as exc:
            if q.is_foreign_key(exc):
                raise NotFound(f"session {session!r} not found") from None
            raise

    def list_contacts(
        self, db: Db, tenant_id: str, session: str, limit: int, after: str | None
    ) -> list[ContactRow]:
        q = self.dialect
        cur = q.run(
            db,
            "SELECT c.tenant_id, c.session, c.jid, c.name, c.push_name, "
            "(SELECT l.lid FROM lid_map l WHERE l.tenant_id = c.tenant_id "
            "AND l.session = c.session AND l.phone = c.jid LIMIT 1), c.updated_at "
            "FROM contacts c WHERE c.tenant_id = ? AND c.session = ? "
            f"AND c.jid{q.collate} > ? ORDER BY c.jid{q.collate} LIMIT ?",
            (tenant_id, session, after or "", limit),
        )
        return [
            ContactRow(
                tenant_id=r[0],
                session=r[1],
                jid=r[2],
                name=r[3],
                push_name=r[4],
                lid=r[5],
                updated_at=from_us(r[6]),
            )
            for r in cur
        ]

    def resolve_lids(
        self, db: Db, tenant_id: str, session: str, jids: Sequence[str]
    ) -> dict[str, str]:
        q = self.dialect
        lids = [j for j in jids if j.endswith("@lid")]
        if not lids:
            return {}
        cur = q.run(
            db,
            "SELECT lid, phone FROM lid_map WHERE tenant_id = ? AND session = ? "
            f"AND lid {q.any_of}",
            (tenant_id, session, q.listed(lids)),
        )
        return {r[0]: r[1] for r in cur}

    def put_lids(
        self,
        db: Db,
        tenant_id: str,
        session: str,
        pairs: Sequence[tuple[str, str]],
        at: datetime,
    ) -> None:
        q = self.dialect
        now = to_us(at)
        try:
            with q.tx(db):
                for lid, phone in pairs:
                    k = {"t": tenant_id, "s": session, "lid": lid, "phone": phone, "at": now}
                    q.run(
                        db,
                        "INSERT INTO lid_map (tenant_id, session, lid, phone, updated_at) "
                        "VALUES (:t, :s, :lid, :phone, :at) "
                        "ON CONFLICT (tenant_id, session, lid) DO UPDATE SET "
                        "phone = excluded.phone, updated_at = excluded.updated_at",
                        k,
                    )
                    self._merge(db, k)
        except q.integrity_error as exc:
            if q.is_foreign_key(exc):
                raise NotFound(f"session {session!r} not found") from None
            raise

    def _merge(self, db: Db, k: dict[str, Any]) -> None:
        """What was filed under the LID goes to the phone JID: one person, one chat."""
        q = self.dialect
        where_lid = "tenant_id = :t AND session = :s AND jid = :lid"
        q.run(
            db,
            "INSERT INTO contacts (tenant_id, session, jid, name, push_name, updated_at) "
            "SELECT tenant_id, session, CAST(:phone AS TEXT), name, push_name, updated_at "
            f"FROM contacts WHERE {where_lid} "
            "ON CONFLICT (tenant_id, session, jid) DO UPDATE SET "
            "name = coalesce(contacts.name, excluded.name), "
            "push_name = coalesce(contacts.push_name, excluded.push_name)",
            k,
        )
        q.run(
            db,
            "INSERT INTO contacts (tenant_id, session, jid, updated_at) "
            "VALUES (:t, :s, :phone, :at) ON CONFLICT (tenant_id, session, jid) DO NOTHING",
            k,
        )
        q.run(db, f"DELETE FROM contacts WHERE {where_lid}", k)
        chat = q.run(db, f"SELECT 1 FROM chats WHERE {where_lid}", k).fetchone()
        if chat is None:
            return
        q.run(
            db,
            "INSERT INTO chats (tenant_id, session, jid, kind, name, last_message, last_at, "
            "unread, updated_at) SELECT tenant_id, session, CAST(:phone AS TEXT), kind, name, "
            f"last_message, last_at, unread, updated_at FROM chats WHERE {where_lid} "
            "ON CONFLICT (tenant_id, session, jid) DO UPDATE SET "
            "name = coalesce(chats.name, excluded.name), "
            "unread = chats.unread + excluded.unread, "
            "last_message = CASE WHEN chats.last_at IS NULL OR excluded.last_at >= chats.last_at "
            "THEN excluded.last_message ELSE chats.last_message END, "
            "last_at = CASE WHEN chats.last_at IS NULL OR excluded.last_at >= chats.last_at "
            "THEN excluded.last_at ELSE chats.last_at END, "
            "updated_at = CASE WHEN excluded.updated_at > chats.updated_at "
            "THEN excluded.updated_at ELSE chats.updated_at END",
            k,
        )
        q.run(
            db,
            f"INSERT INTO chat_messages ({CHAT_MESSAGE_COLS}) SELECT tenant_id, session, "
            "CAST(:phone AS TEXT), wa_id, sender, from_me, at, unread, data FROM chat_messages "
            "WHERE tenant_id = :t AND session = :s AND chat = :lid "
            "ON CONFLICT (tenant_id, session, chat, wa_id) DO NOTHING",
            k,
        )
        q.run(
            db,
            "DELETE FROM chat_messages WHERE tenant_id = :t AND session = :s AND chat = :lid",
            k,
        )
        q.run(db, f"DELETE FROM chats WHERE {where_lid}", k)

    def prune_chat_messages(self, db: Db, cutoff: datetime, limit: int) -> int:
        q = self.dialect
        cur = q.run(
            db,
            "DELETE FROM chat_messages WHERE (tenant_id, session, chat, wa_id) IN ("
            "SELECT tenant_id, session, chat, wa_id FROM chat_messages WHERE at < ? LIMIT ?)",
            (to_us(cutoff), limit),
        )
        return max(0, cur.rowcount)
