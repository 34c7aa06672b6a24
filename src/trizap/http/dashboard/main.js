// The dashboard's entry: signing in and out, and the page of each role.
//
// The token lives in this tab's sessionStorage only (gone when the tab closes; never in
// localStorage, a cookie or the address bar). `GET /v1/me` tells whose it is: the admin
// gets the tenants page, a tenant its sessions page.

import { Api, ApiError, attempt } from "./api.js";
import { append, field, fill, form, h } from "./dom.js";
import { mountAdmin, mountTenant } from "./pages.js";

const TOKEN = "trizap.token";
const RETURN = "trizap.admin-token"; // the admin's token while they look at a tenant's page

const main = document.getElementById("main");
const who = document.getElementById("who");
const banner = document.getElementById("banner");
let current = null; // {destroy()} of the page shown

/** Shows a message above the page until the next sign-in (null hides it). */
function say(text) {
  banner.hidden = !text;
  banner.textContent = text || "";
}

function signOut(message = null) {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(RETURN);
  show(null, message);
}

function show(token, message = null) {
  if (current) current.destroy();
  current = null;
  fill(who);
  say(message);
  if (token === null) {
    signInPage();
  } else {
    open(token);
  }
}

async function open(token) {
  let revoked = false;
  const api = new Api(token, (error) => {
    if (revoked) return;
    revoked = true;
    signOut(`Signed out: ${error.message} ${error.advice}`);
  });
  let me;
  try {
    me = await api.get("/v1/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // signed out above
    fill(main, h("section", { class: "card" }, h("h2", {}, "Cannot reach trizap"), h("p", {}, error.message, " ", error.advice || ""), h("button", { type: "button", onclick: () => show(token) }, "Try again")));
    return;
  }
  const signOutButton = h("button", { type: "button", onclick: () => signOut() }, "Sign out");
  const env = { api, token, say, signOut, switchTo };
  if (me.role === "admin") {
    append(who, h("span", { class: "role" }, "admin"), signOutButton);
    current = mountAdmin(main, env);
  } else {
    const back = sessionStorage.getItem(RETURN);
    append(who, h("span", { class: "role" }, `tenant ${me.tenant.name}`), h("span", { id: "live", class: "live", role: "status" }));
    if (back) append(who, h("button", { type: "button", onclick: () => returnToAdmin(back) }, "Back to admin"));
    append(who, signOutButton);
    current = mountTenant(main, { ...env, tenant: me.tenant, liveEl: document.getElementById("live") });
  }
  main.focus();
}

/** The admin looks at a tenant's page with one of its tokens (kept to come back). */
function switchTo(tenantToken) {
  const admin = sessionStorage.getItem(TOKEN);
  sessionStorage.setItem(RETURN, admin);
  sessionStorage.setItem(TOKEN, tenantToken);
  show(tenantToken);
}

function returnToAdmin(adminToken) {
  sessionStorage.removeItem(RETURN);
  sessionStorage.setItem(TOKEN, adminToken);
  show(adminToken);
}

function signInPage() {
  const { wrap, input } = field(
    "Token",
    { name: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true },
    { hint: "The admin token is in trizap-data/admin.token (printed once at the first start). A tenant token is shown once when its tenant or token is created." },
  );
  const error = h("div", { class: "error", role: "alert", hidden: true });
  const signIn = form({ class: "card narrow", "aria-labelledby": "signin-title" }, async (el) => {
    const token = input.value.trim();
    if (!token) {
      input.setAttribute("aria-invalid", "true");
      fill(error, h("strong", {}, "Enter a token. "), "Paste the admin token or a tenant token.");
      error.hidden = false;
      input.focus();
      return;
    }
    const me = await attempt(error, () => new Api(token).get("/v1/me"), el);
    if (!me) {
      input.setAttribute("aria-invalid", "true");
      input.select();
      return;
    }
    sessionStorage.setItem(TOKEN, token);
    show(token);
  }, h("h2", { id: "signin-title" }, "Sign in"), wrap, error, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")));
  fill(main, signIn);
  input.focus();
}

show(sessionStorage.getItem(TOKEN));
