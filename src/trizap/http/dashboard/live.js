// The tenant's live event stream over the WebSocket (`/v1/ws`), resumed without a gap.
//
// The first connection asks for nothing old: its `hello` says the last `seq` so far.
// Every event received moves `lastSeq`; when the socket drops, the next connection asks
// for `after=lastSeq`, and the server replays what was missed, in order, before the live
// events, so nothing is lost or seen twice (a duplicate `seq` is dropped here all the
// same). Reconnecting waits 0.5 s, then twice as long each time (at most 10 s), with
// jitter, and first asks `/v1/me` whether the token still works: a revoked token signs the
// tab out instead of retrying forever.
//
// Browsers cannot set headers on a WebSocket, so the token goes in its `token` query
// parameter (the server logs no query strings); it never appears in the page's address.

import { ApiError } from "./api.js";

const FIRST_DELAY = 500; // ms
const MAX_DELAY = 10_000; // ms

export class Live {
  /**
   * @param {string} token
   * @param {import("./api.js").Api} api
   * @param {object} handlers
   *   onHello(hello, first): runs before the events that follow it (may be async);
   *   onEvent(event): each event, in `seq` order, once;
   *   onState(state, seconds): "connecting", "live", or "waiting"/"offline" with the
   *     seconds until the next try;
   *   onRevoked(): the server closed the socket because the token was revoked;
   *   onTrouble(error): a call made while handling a frame failed (an ApiError).
   */
  constructor(token, api, handlers) {
    this.token = token;
    this.api = api;
    this.handlers = handlers;
    this.lastSeq = null; // null until the first hello
    this.socket = null;
    this.failures = 0;
    this.timer = null;
    this.stopped = false;
    // Frames are handled one after another, each after the previous one's promise.
    this.chain = Promise.resolve();
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "signed out");
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams();
    if (this.lastSeq !== null) query.set("after", String(this.lastSeq));
    query.set("token", this.token);
    return `${scheme}//${location.host}/v1/ws?${query}`;
  }

  connect() {
    if (this.stopped) return;
    this.handlers.onState("connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (event.code === 4401) {
        this.stopped = true;
        this.handlers.onRevoked();
        return;
      }
      this.retry();
    });
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // the server only sends JSON; nothing else is ours to read
    }
    if (frame.type === "hello") {
      const first = this.lastSeq === null;
      if (first) this.lastSeq = frame.last_seq;
      this.failures = 0;
      this.handlers.onState("live");
      this.run(() => this.handlers.onHello(frame, first));
    } else if (typeof frame.seq === "number") {
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
      this.run(() => this.handlers.onEvent(frame));
    }
  }

  run(step) {
    this.chain = this.chain.then(step).catch((error) => {
      if (error instanceof ApiError) this.handlers.onTrouble(error);
      else console.error(error); // a bug of the page
    });
  }

  /** Try again later; `state` says why ("waiting": the socket closed, "offline": the
   * server did not answer). */
  retry(state = "waiting") {
    const delay = Math.min(MAX_DELAY, FIRST_DELAY * 2 ** this.failures);
    this.failures += 1;
    const wait = Math.round(delay * (0.5 + Math.random() / 2));
    this.handlers.onState(state, Math.ceil(wait / 1000));
    this.timer = setTimeout(() => this.check(), wait);
  }

  /** Reconnect if the server answers and still takes the token. */
  async check() {
    if (this.stopped) return;
    try {
      await this.api.get("/v1/me");
    } catch (error) {
      if (error.status === 401) return; // the Api's onUnauthorized signs the tab out
      this.retry("offline");
      return;
    }
    this.connect();
  }
}
