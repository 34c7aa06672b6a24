// The two pages: the admin's (tenants and tokens) and a tenant's (sessions, the open
// session, events), each laid out from the panels of panels.js that belong there.

import { fill, h } from "./dom.js";
import { Live } from "./live.js";
import { panels } from "./panels.js";
import { TenantState } from "./state.js";

const HISTORY = 200; // events read back when a tenant's page opens

/** Mounts `panel` in a new section appended to `parent`; returns its {destroy()}. */
function mountPanel(parent, panel, base) {
  const titleId = `${panel.id}-title`;
  const section = h("section", { id: panel.id, class: `card panel-${panel.id}`, "aria-labelledby": titleId }, h("h2", { id: titleId }, panel.title));
  parent.append(section);
  const listeners = [];
  const ctx = {
    ...base,
    on(target, type, fn) {
      target.addEventListener(type, fn);
      listeners.push(() => target.removeEventListener(type, fn));
    },
  };
  const mounted = panel.mount(section, ctx) || {};
  return {
    destroy() {
      for (const off of listeners) off();
      if (mounted.destroy) mounted.destroy();
      section.remove();
    },
  };
}

function mountAll(parent, place, base) {
  return panels.filter((p) => p.place === place).map((p) => mountPanel(parent, p, base));
}

export function mountAdmin(main, env) {
  const page = h("div", { class: "admin-page" });
  fill(main, page);
  const mounted = mountAll(page, "admin", { api: env.api, say: env.say, switchTo: env.switchTo });
  return {
    destroy() {
      for (const m of mounted) m.destroy();
    },
  };
}

export function mountTenant(main, env) {
  const { api } = env;
  const state = new TenantState(api);
  const side = h("div", { class: "side" });
  const sessionArea = h("div", { class: "session-area", "aria-live": "off" });
  const wide = h("div", { class: "wide" });
  fill(main, h("div", { class: "tenant-page" }, side, sessionArea, wide));

  let selected = null;
  let sessionPanels = [];
  const base = {
    api,
    state,
    say: env.say,
    selected: () => selected,
    select,
  };

  function select(name) {
    if (name === selected && sessionPanels.length) return;
    for (const m of sessionPanels) m.destroy();
    sessionPanels = [];
    selected = name;
    state.emit("selected", name);
    const session = name === null ? null : state.sessions.get(name);
    if (!session) {
      fill(sessionArea, h("section", { class: "card empty" }, h("h2", {}, "No session open"), h("p", {}, "Create a session, or open one from the list.")));
      return;
    }
    fill(sessionArea);
    const ctx = { ...base, session: name, current: () => state.sessions.get(name) };
    sessionPanels = panels
      .filter((p) => p.place === "session" && (!p.applies || p.applies(session)))
      .map((p) => mountPanel(sessionArea, p, ctx));
  }

  const fixed = [...mountAll(side, "side", base), ...mountAll(wide, "tenant", base)];

  // The open session follows the list: opened when it is the first, closed when deleted.
  const onSessions = () => {
    if (selected !== null && !state.sessions.has(selected)) select(null);
    if (selected === null && state.sessions.size) select([...state.sessions.keys()][0]);
  };
  state.addEventListener("sessions", onSessions);

  const live = new Live(env.token, api, {
    async onHello(hello, first) {
      const { sessions } = await api.get("/v1/sessions");
      if (first) {
        // What happened just before the page opened, for the events and messages lists.
        const after = Math.max(0, hello.last_seq - HISTORY);
        const page = await api.get(`/v1/events?after=${after}&limit=${HISTORY}`);
        for (const event of page.events) {
          if (event.seq <= hello.last_seq) await state.apply(event, { history: true });
        }
      }
      state.setSessions(sessions);
      if (selected === null) select(null);
    },
    onEvent: (event) => state.apply(event),
    onState(status, seconds) {
      const text = {
        connecting: "Connecting…",
        live: "Live",
        waiting: `Connection lost; reconnecting in ${seconds} s`,
        offline: `Server unreachable; retrying in ${seconds} s`,
      }[status];
      env.liveEl.dataset.state = status;
      env.liveEl.textContent = text;
    },
    onTrouble(error) {
      // 401: the tab is being signed out, with its own message
      if (error.status !== 401) env.say(`${error.message} ${error.advice} Reload the page to read everything again.`);
    },
    onRevoked: () => env.signOut("Signed out: this token was revoked, or its tenant deleted. Sign in with another token."),
  });
  live.start();

  return {
    destroy() {
      live.stop();
      state.removeEventListener("sessions", onSessions);
      for (const m of [...sessionPanels, ...fixed]) m.destroy();
    },
  };
}
