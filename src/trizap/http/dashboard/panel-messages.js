// Messages of the open session: send a text and watch it go queued → sent → delivered →
// read (each step lights up as its `message.status` event comes), and the messages it
// received, shown as the text they are.

import { attempt, sessionPath } from "./api.js";
import { append, clock, field, fill, form, h, phoneOf } from "./dom.js";
import { STEPS } from "./state.js";

const RECENT = 20; // sent messages read back when the session is opened

/** A random key, so that sending the same form twice (a retry after a network error, a
 * double click) queues the message once. */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `dash-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function timeline(entry) {
  const { message, reached } = entry;
  const steps = h("ol", { class: "steps", "aria-label": "Status" });
  for (const step of STEPS) {
    const done = reached.has(step);
    append(steps, h("li", { dataset: { step, reached: String(done) }, "aria-current": message.status === step ? "step" : null }, step));
  }
  if (message.status === "failed" || message.status === "cancelled") {
    append(steps, h("li", { dataset: { step: message.status, reached: "true" }, class: "bad", "aria-current": "step" }, message.status));
  }
  return steps;
}

export default {
  id: "messages",
  title: "Messages",
  place: "session",
  mount(section, ctx) {
    const { api, state, session: name } = ctx;
    const error = h("div", { class: "error", role: "alert", hidden: true });
    const to = field("To", { name: "to", type: "tel", autocomplete: "off", inputmode: "tel" }, { hint: "A phone number with its country code (5511999999999), or a JID." });
    const text = field("Text", { name: "text", rows: 3 }, { tag: "textarea" });
    let key = newKey();
    const forget = () => {
      key = newKey();
    };
    to.input.addEventListener("input", forget);
    text.input.addEventListener("input", forget);
    const send = form({ "aria-label": `Send a message from ${name}` }, async (el) => {
      const message = await attempt(error, () => api.post(sessionPath(name, "/messages"), { to: to.input.value.trim(), text: text.input.value, idempotency_key: key }), el);
      if (!message) return;
      state.addSent(message);
      text.input.value = "";
      forget();
      text.input.focus();
    }, to.wrap, text.wrap, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Send")));

    const sent = h("ul", { class: "sent", "aria-label": "Sent messages" });
    const received = h("ul", { class: "received", "aria-label": "Received messages" });
    append(section, send, error, h("h3", {}, "Sent"), sent, h("h3", {}, "Received"), received);

    const renderSent = () => {
      const box = state.outbox.get(name);
      const entries = box ? [...box.values()].reverse() : [];
      fill(sent, entries.length ? [] : h("li", { class: "empty" }, "Nothing sent from here yet."));
      for (const entry of entries) {
        const m = entry.message;
        append(
          sent,
          h(
            "li",
            { class: "message", dataset: { id: m.id } },
            h("div", { class: "meta" }, `to ${m.to ? phoneOf(m.to) : "…"}`, m.created_at ? ` · ${clock(m.created_at)}` : ""),
            h("p", { class: "text" }, m.text ?? ""),
            timeline(entry),
            m.error ? h("p", { class: "error-text" }, m.error) : null,
          ),
        );
      }
    };
    const renderReceived = () => {
      const list = state.inbox.get(name) || [];
      fill(received, list.length ? [] : h("li", { class: "empty" }, "Nothing received yet."));
      for (const m of [...list].reverse()) {
        const from = phoneOf(m.from);
        append(
          received,
          h(
            "li",
            { class: "message", dataset: { id: m.id } },
            h("div", { class: "meta" }, m.push_name ? `${m.push_name} · ${from}` : from, ` · ${clock(m.timestamp)}`),
            h("p", { class: "text" }, m.kind === "text" ? m.text ?? "" : `(${m.kind})${m.text ? ` ${m.text}` : ""}`),
          ),
        );
      }
    };
    ctx.on(state, "outbox", (event) => event.detail === name && renderSent());
    ctx.on(state, "inbox", (event) => event.detail === name && renderReceived());
    renderSent();
    renderReceived();
    api.get(sessionPath(name, `/messages?limit=${RECENT}`)).then(
      (page) => state.addHistory(name, page.messages),
      () => {}, // the session is gone; its panel goes with it
    );
  },
};
