// Linking a phone: the live QR code (redrawn each time a `session.qr` event brings a new
// one) or a pairing code to type on the phone.
//
// The image is the API's own (`GET /v1/sessions/{name}/qr` with `Accept: image/svg+xml`),
// fetched with the token and shown from a blob: URL; an <img> never runs what an SVG
// holds.

import { attempt, sessionPath, showError } from "./api.js";
import { append, clock, field, fill, form, h, phoneOf } from "./dom.js";
import { MEANING } from "./panel-session.js";

export default {
  id: "pairing",
  title: "Link a phone",
  place: "session",
  mount(section, ctx) {
    const { api, state, session: name } = ctx;
    const error = h("div", { class: "error", role: "alert", hidden: true });
    const body = h("div", { class: "pairing" });
    const image = h("img", { class: "qr", width: 264, height: 264, alt: `QR code to link a phone to ${name}` });
    const expiry = h("p", { class: "hint" });
    const qrBox = h(
      "figure",
      { class: "qr-box" },
      image,
      h("figcaption", {}, "On the phone: WhatsApp › Settings › Linked devices › Link a device, then point the camera at this code. A new code replaces it by itself every so often."),
      expiry,
    );
    const code = h("p", { class: "pairing-code", "aria-live": "polite" });
    const phone = field("Phone number", { name: "phone", type: "tel", autocomplete: "off", inputmode: "tel" }, { hint: "With the country code, e.g. 5511999999999. The phone gets a notification; type the code there (Link with phone number instead)." });
    const codeForm = form({ class: "inline", "aria-label": "Pairing code" }, async (el) => {
      fill(code);
      const answer = await attempt(error, () => api.post(sessionPath(name, "/pairing-code"), { phone: phone.input.value.trim() }), el);
      if (answer) fill(code, "Type this code on the phone: ", h("strong", {}, answer.code));
    }, phone.wrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Get a pairing code")));
    append(section, body, error);

    let url = null; // the blob: URL shown
    let asked = 0; // QR requests made; only the latest one's answer is shown
    let shownFor = null; // the status the body was drawn for

    async function loadQr(seq = null, expiresAt = null) {
      asked += 1;
      const mine = asked;
      let response;
      try {
        response = await api.get(sessionPath(name, "/qr"), { accept: "image/svg+xml", raw: true });
      } catch (err) {
        // 409: no QR any more (scanned, stopped): the status line says what happened.
        if (mine === asked && err.status !== 409) showError(error, err);
        return;
      }
      const blob = await response.blob();
      if (mine !== asked) return;
      showError(error, null);
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(blob);
      image.src = url;
      image.dataset.seq = seq === null ? "" : String(seq);
      expiry.textContent = expiresAt ? `This code is good until ${clock(expiresAt)}.` : "";
    }

    const render = () => {
      const s = ctx.current();
      if (!s || s.status === shownFor) return;
      shownFor = s.status;
      if (s.status === "qr") {
        fill(body, qrBox, codeForm, code);
        const last = state.lastQr.get(name);
        loadQr(last ? last.seq : null, last ? last.expires_at : null);
      } else if (s.status === "connected" && s.me) {
        fill(body, h("p", { class: "linked" }, `Linked to ${phoneOf(s.me.jid)}${s.me.push_name ? ` (${s.me.push_name})` : ""}.`));
      } else {
        fill(body, h("p", {}, MEANING[s.status] || s.status));
      }
    };
    ctx.on(state, "sessions", render);
    ctx.on(state, "qr", (event) => {
      if (event.detail.session === name) loadQr(event.detail.seq, event.detail.expires_at);
    });
    render();
    return {
      destroy() {
        asked += 1;
        if (url) URL.revokeObjectURL(url);
      },
    };
  },
};
