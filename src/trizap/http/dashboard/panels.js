// Every panel of the dashboard, in the order they are shown. A feature adds a module and
// a line here.
//
// A panel module's default export:
//   {
//     id: "pairing",                 // unique; also the section's id
//     title: "Pairing",              // its heading
//     place: "session",              // "admin": the admin's page; on a tenant's page,
//                                    // "side" (beside), "session" (the open session),
//                                    // "tenant" (below, for the whole tenant)
//     applies(session) { ... },      // "session" panels only, optional: shown for it?
//     mount(section, ctx) { ... },   // fills `section` (its heading is there already);
//                                    // may return {destroy()}
//   }
//
// `ctx` (pages.js): `api` (api.js), `on(target, type, fn)` (removed with the panel),
// `say(text)`; on a tenant's page also `state` (state.js), `select(name)`, `selected()`,
// and for "session" panels `session` (its name) and `current()` (the session object);
// on the admin's page `switchTo(token)` (look at a tenant's page with its token).

import tenants from "./panel-tenants.js";
import sessions from "./panel-sessions.js";
import session from "./panel-session.js";
import pairing from "./panel-pairing.js";
import messages from "./panel-messages.js";
import sim from "./panel-sim.js";
import events from "./panel-events.js";

export const panels = [tenants, sessions, session, pairing, messages, sim, events];
