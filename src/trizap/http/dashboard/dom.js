// Building the page without HTML strings: every value from the server becomes a text node
// (textContent), never markup, so a message text such as `<img onerror=...>` is shown as
// the characters it is. Attribute names are always constants written here.

let nextId = 0;

/** A fresh id for tying a label to its control. */
export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** `h("button", {class: "x", onclick: fn}, "Save")`: an element, its attributes and
 * children (strings become text nodes; null, undefined and false are left out). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, ...children);
  return el;
}

export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace everything in `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, ...children);
}

/** A labelled control: `{wrap, input}`. `props` go to the control; `hint` is a line of
 * help tied to it with aria-describedby. */
export function field(label, props = {}, { tag = "input", hint, options } = {}) {
  const id = uid(props.name || "f");
  const input = h(tag, { id, ...props });
  if (options) {
    for (const [value, text] of options) append(input, h("option", { value }, text));
  }
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), input);
  if (hint) {
    const hintId = uid("hint");
    append(wrap, h("p", { class: "hint", id: hintId }, hint));
    input.setAttribute("aria-describedby", hintId);
  }
  return { wrap, input };
}

/** A form that calls `onsubmit(form)` (never a navigation: the CSP forbids form actions,
 * and nothing typed here may end up in a URL). Its submit button is disabled while the
 * call runs. */
export function form(props, onsubmit, ...children) {
  const el = h("form", { ...props, novalidate: true }, ...children);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = el.querySelectorAll("button");
    for (const b of buttons) b.disabled = true;
    try {
      await onsubmit(el);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
  return el;
}

/** A button that runs `action` and stays disabled while it does. */
export function button(text, action, props = {}) {
  const el = h("button", { type: "button", ...props }, text);
  el.addEventListener("click", async () => {
    el.disabled = true;
    try {
      await action();
    } finally {
      el.disabled = false;
    }
  });
  return el;
}

/** Asks before something that cannot be undone, in a modal <dialog> (Escape or Cancel
 * says no). Resolves to true when confirmed. */
export function confirmAction(question, confirmText) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-label": confirmText });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    append(
      dialog,
      h("p", {}, question),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => done(false) }, "Cancel"),
        h("button", { type: "button", class: "danger", onclick: () => done(true) }, confirmText),
      ),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A secret shown once (a new token), with a copy button and what to do with it. */
export function secretBox(title, secret, note, ...extra) {
  const { wrap, input } = field(title, { readonly: true, value: secret, class: "secret" });
  const status = h("p", { class: "hint", role: "status" });
  const copy = button("Copy", async () => {
    try {
      await navigator.clipboard.writeText(secret);
      status.textContent = "Copied to the clipboard.";
    } catch {
      input.focus();
      input.select();
      status.textContent = "The browser did not allow copying: the token is selected, press Ctrl+C.";
    }
  });
  const box = h("div", { class: "secret-box" }, wrap, h("div", { class: "actions" }, copy, extra), h("p", { class: "hint" }, note), status);
  return box;
}

/** "12:03:04" for an RFC 3339 time (the browser's own time zone), or "" for none. */
export function clock(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString();
}

/** "2026-11-29 12:03" for an RFC 3339 time, local. */
export function when(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** "5511900000001" for "5511900000001@s.whatsapp.net"; other JIDs as they are. */
export function phoneOf(jid) {
  if (!jid) return "";
  const [user, server] = jid.split("@");
  return server === "s.whatsapp.net" ? user.split(":")[0] : jid;
}
