// The tenant's events as they happen (the last ones first), with a filter by type, by
// session and by words. Each shows its `seq`; a row opens to the event's full JSON.

import { append, clock, field, h, phoneOf } from "./dom.js";

const KEEP = 500; // events kept on the page

function summary(event) {
  const d = event.data || {};
  switch (event.type) {
    case "session.status":
      return `${d.status}${d.reason ? ` (${d.reason})` : ""}${d.me ? ` as ${phoneOf(d.me.jid)}` : ""}`;
    case "session.qr":
      return `new QR code, good until ${clock(d.expires_at)}`;
    case "message.status":
      return `${d.id} ${d.status}${d.error ? `: ${d.error}` : ""}`;
    case "message.received":
      return `from ${d.push_name || phoneOf(d.from)}: ${d.kind === "text" ? d.text : `(${d.kind})`}`;
    default:
      return JSON.stringify(d);
  }
}

export default {
  id: "events",
  title: "Events",
  place: "tenant",
  mount(section, ctx) {
    const { state } = ctx;
    const type = field("Type", { name: "type" }, { tag: "select", options: [["", "All types"]] });
    const session = field("Session", { name: "session" }, { tag: "select", options: [["", "All sessions"]] });
    const words = field("Contains", { name: "words", type: "search", autocomplete: "off" });
    const count = h("p", { class: "hint", "aria-live": "polite" });
    const list = h("ol", { class: "events", "aria-label": "Events, newest first" });
    append(section, h("div", { class: "filters", role: "search", "aria-label": "Filter the events" }, type.wrap, session.wrap, words.wrap), count, list);

    const known = { type: new Set(), session: new Set() };
    const addOption = (select, kind, value) => {
      if (!value || known[kind].has(value)) return;
      known[kind].add(value);
      append(select, h("option", { value }, value));
    };

    const matches = (li) =>
      (!type.input.value || li.dataset.type === type.input.value) &&
      (!session.input.value || li.dataset.session === session.input.value) &&
      (!words.input.value || li.textContent.toLowerCase().includes(words.input.value.toLowerCase()));

    const updateCount = () => {
      const shown = [...list.children].filter((li) => !li.hidden).length;
      count.textContent = `${shown} of ${list.children.length} events shown.`;
    };
    const refilter = () => {
      for (const li of list.children) li.hidden = !matches(li);
      updateCount();
    };
    for (const input of [type.input, session.input, words.input]) input.addEventListener("input", refilter);

    ctx.on(state, "event", ({ detail: event }) => {
      addOption(type.input, "type", event.type);
      addOption(session.input, "session", event.session);
      const li = h(
        "li",
        { class: "event", dataset: { seq: String(event.seq), type: event.type, session: event.session || "" } },
        h(
          "details",
          {},
          h("summary", {}, h("span", { class: "seq" }, `#${event.seq}`), " ", h("span", { class: "muted" }, clock(event.at)), " ", h("span", { class: "type" }, event.type), " ", event.session ? h("span", { class: "session-name" }, event.session) : "", " ", h("span", { class: "summary" }, summary(event))),
          h("pre", {}, JSON.stringify(event, null, 2)),
        ),
      );
      li.hidden = !matches(li);
      list.prepend(li);
      while (list.children.length > KEEP) list.lastElementChild.remove();
      updateCount();
    });
    updateCount();
  },
};
