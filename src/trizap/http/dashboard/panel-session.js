// The open session: its status as it changes, and what can be done with it.

import { attempt, sessionPath } from "./api.js";
import { append, button, confirmAction, fill, h, phoneOf, when } from "./dom.js";
import { badge } from "./panel-sessions.js";

/** What a status means, for someone looking at it. */
export const MEANING = {
  starting: "Starting the engine…",
  qr: "Waiting for a phone to scan the QR code (or to type the pairing code).",
  connected: "Connected to WhatsApp: it sends and receives.",
  disconnected: "The connection dropped; it reconnects by itself.",
  stopped: "Stopped. Start it to connect again (its credentials are kept).",
  logged_out: "Logged out: the phone was unlinked. Start it to link a phone again.",
  failed: "Failed: it kept crashing. Look at the reason, then restart it.",
};

export default {
  id: "session",
  title: "Session",
  place: "session",
  mount(section, ctx) {
    const { api, state, session: name } = ctx;
    const heading = section.querySelector("h2");
    heading.textContent = `Session ${name}`;
    const error = h("div", { class: "error", role: "alert", hidden: true });
    const status = h("div", { class: "status-line", role: "status" });
    const details = h("dl", { class: "facts" });

    // The status shown comes from the event stream alone (it is ordered; an answer may
    // arrive after newer events), so an action's answer is only checked for errors.
    const act = (label, action, description) =>
      button(label, () => attempt(error, action), { title: description });
    const path = (rest) => sessionPath(name, rest);

    const actions = h(
      "div",
      { class: "actions", role: "group", "aria-label": `Actions on ${name}` },
      act("Start", () => api.post(path("/start")), "Start it (wakes a hibernated session)"),
      act("Stop", () => api.post(path("/stop")), "Stop it; its credentials are kept"),
      act("Restart", () => api.post(path("/restart")), "Stop it and start it again"),
      button("Log out", async () => {
        if (!(await confirmAction(`Log ${name} out? The phone is unlinked and the credentials are wiped; linking again needs a new scan.`, "Log out"))) return;
        await attempt(error, () => api.post(path("/logout")));
      }, { class: "danger" }),
      button("Delete", async () => {
        if (!(await confirmAction(`Delete ${name}? It is logged out, and its credentials and queued messages are removed.`, `Delete ${name}`))) return;
        if ((await attempt(error, () => api.delete(path("")))) !== undefined) state.removeSession(name);
      }, { class: "danger" }),
    );
    append(section, status, details, actions, error);

    const render = () => {
      const s = ctx.current();
      if (!s) return;
      fill(status, badge(s.status), " ", MEANING[s.status] || "");
      const facts = [
        ["Engine", s.engine],
        ["Phone", s.me ? `${phoneOf(s.me.jid)}${s.me.push_name ? ` (${s.me.push_name})` : ""}` : "not linked yet"],
        ["Restarts", String(s.restarts)],
        ["Updated", when(s.updated_at)],
      ];
      if (s.reason) facts.splice(1, 0, ["Reason", s.reason]);
      fill(details, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    };
    ctx.on(state, "sessions", render);
    render();
  },
};
