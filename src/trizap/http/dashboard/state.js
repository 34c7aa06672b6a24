// What a tenant's page knows, kept current by the event stream: its sessions, the
// messages sent from this page (or seen in events) with every status they reached, and
// the messages received. Panels read it and listen to its changes:
//
//   state.addEventListener("sessions", ...)   the list or a session's status changed
//   state.addEventListener("outbox", ...)     detail: session name
//   state.addEventListener("inbox", ...)      detail: session name
//   state.addEventListener("qr", ...)         detail: {session, qr, expires_at, seq}
//   state.addEventListener("event", ...)      detail: every event, in seq order

import { sessionPath } from "./api.js";

export const STEPS = ["queued", "sent", "delivered", "read"];
const KEEP_RECEIVED = 200; // received messages kept per session
const KEEP_SENT = 100; // sent messages kept per session
const RECHECK = 1000; // ms after a `logged_out` before the list is read again

export class TenantState extends EventTarget {
  constructor(api) {
    super();
    this.api = api;
    this.sessions = new Map(); // name -> session object (as the API gives it)
    this.outbox = new Map(); // session -> Map(id -> {message, reached: Set of statuses})
    this.inbox = new Map(); // session -> [received message data], oldest first
    this.lastQr = new Map(); // session -> the latest session.qr data (with its seq)
    this.gone = new Set(); // sessions this page deleted: their last events are old news
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** The list as the API gave it; a session that an event has shown newer stays so. */
  setSessions(list) {
    const fresh = new Map();
    for (const s of list) {
      const known = this.sessions.get(s.name);
      fresh.set(s.name, known && known.updated_at > s.updated_at ? known : s);
    }
    this.sessions = fresh;
    this.emit("sessions");
  }

  upsertSession(session) {
    this.gone.delete(session.name);
    this.sessions.set(session.name, session);
    this.emit("sessions");
  }

  removeSession(name) {
    this.gone.add(name);
    this.sessions.delete(name);
    this.outbox.delete(name);
    this.inbox.delete(name);
    this.lastQr.delete(name);
    this.emit("sessions");
  }

  async refreshSessions() {
    const { sessions } = await this.api.get("/v1/sessions");
    this.setSessions(sessions);
  }

  /** A message this page just queued (the 202 or 200 of a send). */
  addSent(message) {
    const entry = this.sentEntry(message.session, message.id);
    // Its events may have come first: keep the furthest status.
    entry.message = { ...entry.message, ...message, status: entry.message.status || message.status };
    this.reach(entry, message.status);
    this.emit("outbox", message.session);
  }

  /** Messages already in the outbox (newest first), when a session is opened. */
  addHistory(session, messages) {
    for (const message of [...messages].reverse()) {
      const entry = this.sentEntry(session, message.id);
      entry.message = { ...message, ...entry.message, status: entry.message.status || message.status };
      this.reach(entry, message.status);
    }
    this.emit("outbox", session);
  }

  sentEntry(session, id) {
    if (!this.outbox.has(session)) this.outbox.set(session, new Map());
    const box = this.outbox.get(session);
    if (!box.has(id)) {
      box.set(id, { message: { id, session }, reached: new Set() });
      while (box.size > KEEP_SENT) box.delete(box.keys().next().value);
    }
    return box.get(id);
  }

  /** Every step up to `status` counts as reached: a message seen `read` was delivered. */
  reach(entry, status) {
    const index = STEPS.indexOf(status);
    if (index >= 0) {
      for (const step of STEPS.slice(0, index + 1)) entry.reached.add(step);
      const current = STEPS.indexOf(entry.message.status);
      if (index >= current) entry.message.status = status;
    } else if (status) {
      entry.reached.add(status); // failed, cancelled
      entry.message.status = status;
    }
  }

  /** One event from the stream, in seq order. With `history` (events from before the
   * page opened, read once), only what is not fetched fresh is taken: received messages. */
  async apply(event, { history = false } = {}) {
    const name = event.session;
    if (this.gone.has(name) && event.type !== "session.status") return this.emit("event", event);
    switch (history && event.type !== "message.received" ? "" : event.type) {
      case "session.status": {
        const known = this.sessions.get(name);
        if (this.gone.has(name) && event.data.status !== "starting") {
          // deleted here; "starting" would be a new session of the same name
        } else if (known) {
          this.upsertSession({ ...known, ...event.data, updated_at: event.at });
          // A deletion (by any client) says `logged_out` last, and has no event of its
          // own: a moment later, the list tells whether the session is still there.
          if (event.data.status === "logged_out") {
            setTimeout(() => this.refreshSessions().catch(() => {}), RECHECK);
          }
        } else {
          await this.fetchSession(name);
        }
        if (event.data.status !== "qr") this.lastQr.delete(name);
        break;
      }
      case "session.qr":
        this.lastQr.set(name, { ...event.data, seq: event.seq });
        this.emit("qr", { session: name, ...event.data, seq: event.seq });
        break;
      case "message.status": {
        const entry = this.sentEntry(name, event.data.id);
        if (entry.message.to === undefined) this.fetchMessage(name, event.data.id);
        entry.message.wa_id = event.data.wa_id;
        entry.message.error = event.data.error;
        this.reach(entry, event.data.status);
        this.emit("outbox", name);
        break;
      }
      case "message.received": {
        if (!this.inbox.has(name)) this.inbox.set(name, []);
        const list = this.inbox.get(name);
        list.push({ ...event.data, seq: event.seq });
        if (list.length > KEEP_RECEIVED) list.splice(0, list.length - KEEP_RECEIVED);
        this.emit("inbox", name);
        break;
      }
      default:
        break;
    }
    this.emit("event", event);
  }

  /** A message another client sent: its recipient and text, for the list. */
  fetchMessage(session, id) {
    const entry = this.sentEntry(session, id);
    entry.message.to = null; // asked once
    this.api.get(sessionPath(session, `/messages/${encodeURIComponent(id)}`)).then(
      (message) => {
        entry.message = { ...message, ...entry.message, to: message.to, text: message.text };
        this.emit("outbox", session);
      },
      () => {}, // gone with its session
    );
  }

  /** A session an event named that this page did not know (made by another client). */
  async fetchSession(name) {
    try {
      this.upsertSession(await this.api.get(sessionPath(name)));
    } catch {
      // deleted meanwhile: nothing to show
    }
  }
}
