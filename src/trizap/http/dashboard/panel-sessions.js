// A tenant's sessions: create one, and the list with each one's live status.

import { attempt } from "./api.js";
import { append, field, fill, form, h, phoneOf } from "./dom.js";

export const ENGINES = [
  ["", "Server default"],
  ["sim", "Simulated (no phone needed)"],
  ["neonize", "WhatsApp (a real phone)"],
];

/** The status badge of a session: its word, coloured by class. */
export function badge(status) {
  return h("span", { class: `badge status-${status}`, dataset: { status } }, status.replace("_", " "));
}

export default {
  id: "sessions",
  title: "Sessions",
  place: "side",
  mount(section, ctx) {
    const { api, state } = ctx;
    const error = h("div", { class: "error", role: "alert", hidden: true });
    const name = field("Name", { name: "name", autocomplete: "off", required: true }, { hint: "Lower-case letters, digits, - and _, e.g. sales." });
    const engine = field("Engine", { name: "engine" }, { tag: "select", options: ENGINES });
    const create = form({ "aria-label": "Create a session" }, async (el) => {
      const body = { name: name.input.value.trim() };
      if (engine.input.value) body.engine = engine.input.value;
      const session = await attempt(error, () => api.post("/v1/sessions", body), el);
      if (!session) return;
      name.input.value = "";
      state.upsertSession({ ...(state.sessions.get(session.name) || {}), ...session, status: state.sessions.get(session.name)?.status || session.status });
      ctx.select(session.name);
    }, name.wrap, engine.wrap, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create session")));
    const list = h("ul", { class: "session-list", "aria-label": "Sessions" });
    append(section, create, error, list);

    // Rows are kept and updated in place, so a status change does not move the focus.
    const rows = new Map(); // name -> {li, button, badge, info}
    const empty = h("li", { class: "empty" }, "No sessions yet. Create one above: a simulated one shows the whole flow without a phone.");
    const render = () => {
      const open = ctx.selected();
      const sessions = [...state.sessions.values()].sort((a, b) => a.name.localeCompare(b.name));
      for (const [name, row] of rows) {
        if (!state.sessions.has(name)) {
          row.li.remove();
          rows.delete(name);
        }
      }
      for (const s of sessions) {
        let row = rows.get(s.name);
        if (!row) {
          row = { badge: badge(s.status), info: h("span", { class: "muted small" }) };
          row.button = h("button", { type: "button", class: "session-item", onclick: () => ctx.select(s.name) }, h("span", { class: "session-name" }, s.name), row.badge, row.info);
          row.li = h("li", { dataset: { session: s.name } }, row.button);
          rows.set(s.name, row);
        }
        if (row.badge.dataset.status !== s.status) {
          const fresh = badge(s.status);
          row.badge.replaceWith(fresh);
          row.badge = fresh;
        }
        row.info.textContent = s.me ? `${s.engine} · ${phoneOf(s.me.jid)}` : s.engine;
        if (s.name === open) row.button.setAttribute("aria-current", "true");
        else row.button.removeAttribute("aria-current");
      }
      const order = sessions.length ? sessions.map((s) => rows.get(s.name).li) : [empty];
      const inPlace = order.length === list.children.length && order.every((li, i) => list.children[i] === li);
      if (!inPlace) fill(list, order);
    };
    ctx.on(state, "sessions", render);
    ctx.on(state, "selected", render);
    render();
  },
};
