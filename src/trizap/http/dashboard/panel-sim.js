// Sim sessions only: the simulated phone and network, to show the whole flow without a
// real phone. A phone scans the QR; an outside contact writes in; a fault is injected
// (the session's supervisor restarts it).

import { attempt, sessionPath } from "./api.js";
import { append, field, form, h } from "./dom.js";

const FAULTS = [
  ["disconnect", "disconnect: the connection drops"],
  ["crash", "crash: the engine fails"],
  ["hang", "hang: the engine stops answering"],
  ["abort", "abort: the engine dies mid-call"],
  ["logout", "logout: the phone unlinks the device"],
  ["ban", "ban: WhatsApp bans the number"],
];

export default {
  id: "sim",
  title: "Simulated phone",
  place: "session",
  applies: (session) => session.engine === "sim",
  mount(section, ctx) {
    const { api, session: name } = ctx;
    const post = (rest, body, errorEl, formEl) => attempt(errorEl, () => api.post(sessionPath(name, rest), body), formEl);

    const scanError = h("div", { class: "error", role: "alert", hidden: true });
    const scanPhone = field("Phone number", { name: "phone", type: "tel", autocomplete: "off", inputmode: "tel" }, { hint: "The simulated phone that scans; the session becomes this number. While the QR code shows." });
    const scan = form({ class: "inline", "aria-label": "Scan the QR code" }, (el) => post("/sim/scan", { phone: scanPhone.input.value.trim() }, scanError, el), scanPhone.wrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Scan the QR code")));

    const inError = h("div", { class: "error", role: "alert", hidden: true });
    const from = field("From", { name: "from", type: "tel", autocomplete: "off", inputmode: "tel" }, { hint: "Any number: an outside contact, or another sim session's number." });
    const text = field("Text", { name: "text", rows: 2 }, { tag: "textarea" });
    const inbound = form({ "aria-label": "Write in as a contact" }, async (el) => {
      if ((await post("/sim/inbound", { from: from.input.value.trim(), text: text.input.value }, inError, el)) !== undefined) text.input.value = "";
    }, from.wrap, text.wrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Write in")));

    const faultError = h("div", { class: "error", role: "alert", hidden: true });
    const kind = field("Fault", { name: "kind" }, { tag: "select", options: FAULTS });
    const fault = form({ class: "inline", "aria-label": "Inject a fault" }, (el) => post("/sim/fault", { kind: kind.input.value }, faultError, el), kind.wrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Inject")));

    append(
      section,
      h("h3", {}, "A phone scans"),
      scan,
      scanError,
      h("h3", {}, "A contact writes in"),
      inbound,
      inError,
      h("h3", {}, "Something goes wrong"),
      fault,
      faultError,
    );
  },
};
