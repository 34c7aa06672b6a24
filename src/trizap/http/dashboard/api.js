// The REST client: the public API with a bearer token, and errors put in words.
//
// Every failure becomes an `ApiError` whose `message` says what happened (the server's
// own `detail` when it sent a problem document) and whose `advice` says what to do next.

import { append, fill, h } from "./dom.js";

export class ApiError extends Error {
  constructor(status, message, advice, problem = null) {
    super(message);
    this.name = "ApiError";
    this.status = status; // 0: the server could not be reached
    this.advice = advice;
    this.problem = problem;
    // [{loc: "body.to", msg}] for 422: which field was wrong, and why.
    this.fields = problem && Array.isArray(problem.errors) ? problem.errors : [];
  }
}

function advice(status, retryAfter, problem) {
  const code = problem && typeof problem.type === "string" ? problem.type.split("/").pop() : "";
  switch (status) {
    case 0:
      return "Check that trizap is running and that this computer can reach it, then try again.";
    case 400:
    case 422:
      return "Correct the marked fields and try again.";
    case 401:
      return "Check that the whole token was pasted. A revoked token cannot come back: the admin can create a new one.";
    case 403:
      return "Tenants and tokens need the admin token; sessions, messages and events need a tenant token. Sign in with the other one.";
    case 404:
      return "It may have been deleted in the meantime. The list has been refreshed.";
    case 409:
      if (code === "conflict") return "Choose another name, or use the one that exists.";
      return "Look at the session's status: most actions need it in a given state (a QR needs `qr`, a scan needs a QR showing).";
    case 413:
      return "Send less at once.";
    case 429:
      return "A limit was reached. Delete what you no longer need, or raise the limit in the server's configuration.";
    case 503:
      return retryAfter
        ? `The server is busy or restarting that session. Try again in ${retryAfter} s.`
        : "The server is busy or restarting that session. Try again in a moment.";
    default:
      return "The server hit an unexpected error; it has been logged. Try again, and check the server's log if it happens again.";
  }
}

export class Api {
  /** `onUnauthorized(error)` runs when the server no longer accepts the token. */
  constructor(token, onUnauthorized = () => {}) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  /** The parsed JSON answer (null for 204), or the raw `Response` with `{raw: true}`. */
  async request(method, path, { body, accept = "application/json", raw = false } = {}) {
    const headers = { Authorization: `Bearer ${this.token}`, Accept: accept };
    const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(0, "The server did not answer.", advice(0));
    }
    if (response.ok) {
      if (raw) return response;
      return response.status === 204 ? null : response.json();
    }
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      // not a problem document (a proxy's error page): the status alone then
    }
    const detail = problem && typeof problem.detail === "string" ? problem.detail : `HTTP ${response.status}`;
    const error = new ApiError(
      response.status,
      sentence(detail),
      advice(response.status, response.headers.get("Retry-After"), problem),
      problem,
    );
    if (response.status === 401) this.onUnauthorized(error);
    throw error;
  }

  get(path, options) {
    return this.request("GET", path, options);
  }

  post(path, body = {}, options = {}) {
    return this.request("POST", path, { ...options, body });
  }

  delete(path) {
    return this.request("DELETE", path);
  }
}

/** `/v1/sessions/{name}/...` with the name escaped. */
export function sessionPath(name, rest = "") {
  return `/v1/sessions/${encodeURIComponent(name)}${rest}`;
}

function sentence(text) {
  const t = text.trim();
  if (!t) return "Something went wrong.";
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** Shows `error` in `el` (a role=alert element) and marks the fields of `formEl` the
 * server named (`body.<name>` -> the control named <name>). Clears both when `error` is
 * null. Errors that are not from the API are bugs: they are shown and logged. */
export function showError(el, error, formEl = null) {
  if (formEl) {
    for (const input of formEl.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }
  if (!error) {
    fill(el);
    el.hidden = true;
    return;
  }
  el.hidden = false;
  if (!(error instanceof ApiError)) {
    console.error(error);
    fill(el, h("strong", {}, "Something went wrong in the dashboard. "), "Reload the page and try again.");
    return;
  }
  fill(el, h("strong", {}, error.message), " ", error.advice);
  if (error.fields.length) {
    const list = h("ul");
    for (const { loc, msg } of error.fields) {
      const name = String(loc).split(".").slice(1).join(".") || String(loc);
      append(list, h("li", {}, `${name}: ${msg}`));
      const input = formEl && formEl.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input) input.setAttribute("aria-invalid", "true");
    }
    append(el, list);
  }
}

/** Runs `action`; shows its error in `el` (and the form's fields) instead of throwing.
 * Resolves to the action's result, or undefined when it failed. */
export async function attempt(el, action, formEl = null) {
  try {
    const result = await action();
    showError(el, null, formEl);
    return result;
  } catch (error) {
    showError(el, error, formEl);
    return undefined;
  }
}
