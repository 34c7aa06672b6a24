// The admin's panel: tenants (create, delete) and each tenant's tokens (create, revoke).
// A new token is shown once, with a copy button and a way to open the tenant's page.

import { attempt } from "./api.js";
import { append, button, confirmAction, field, fill, form, h, secretBox, when } from "./dom.js";

const ONCE = "Shown once: copy it now. trizap keeps only a hash of it.";

function tenantPath(tenant, rest = "") {
  return `/v1/tenants/${encodeURIComponent(tenant.id)}${rest}`;
}

export default {
  id: "tenants",
  title: "Tenants",
  place: "admin",
  mount(section, ctx) {
    const { api } = ctx;
    const error = h("div", { class: "error", role: "alert", hidden: true });
    const created = h("div", { class: "created", "aria-live": "polite" });
    const list = h("ul", { class: "rows tenants" });
    const openTokens = new Set(); // tenant ids whose tokens are shown

    const name = field("Name", { name: "name", autocomplete: "off", required: true }, { hint: "Lower-case letters, digits, - and _ (a customer, a team, a project)." });
    const createForm = form({ class: "inline", "aria-label": "Create a tenant" }, async (el) => {
      const tenant = await attempt(error, () => api.post("/v1/tenants", { name: name.input.value.trim() }), el);
      if (!tenant) return;
      name.input.value = "";
      fill(created, h("h3", {}, `Tenant ${tenant.name} created`), secretBox(`Token of ${tenant.name}`, tenant.token, ONCE, h("button", { type: "button", onclick: () => ctx.switchTo(tenant.token) }, `Sign in as ${tenant.name}`)), h("button", { type: "button", class: "link", onclick: () => fill(created) }, "Done, hide the token"));
      await refresh();
    }, name.wrap, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create tenant")));

    append(section, createForm, error, created, list);

    async function refresh() {
      const data = await attempt(error, () => api.get("/v1/tenants"));
      if (!data) return;
      fill(list);
      if (!data.tenants.length) append(list, h("li", { class: "empty" }, "No tenants yet: create the first one above."));
      for (const tenant of data.tenants) append(list, row(tenant));
    }

    function row(tenant) {
      const tokens = h("div", { class: "tokens" });
      const toggle = h("button", { type: "button", "aria-expanded": "false", "aria-label": `Tokens of ${tenant.name}` }, "Tokens");
      const item = h(
        "li",
        { class: "row", dataset: { tenant: tenant.name } },
        h("div", { class: "row-main" }, h("strong", {}, tenant.name), h("span", { class: "muted" }, ` ${tenant.sessions ?? 0} session${tenant.sessions === 1 ? "" : "s"}, created ${when(tenant.created_at)}`)),
        h("div", { class: "actions" }, toggle, button("Delete", () => remove(tenant), { class: "danger", "aria-label": `Delete tenant ${tenant.name}` })),
        tokens,
      );
      const show = async (open) => {
        toggle.setAttribute("aria-expanded", String(open));
        if (open) {
          openTokens.add(tenant.id);
          await tokenPanel(tenant, tokens);
        } else {
          openTokens.delete(tenant.id);
          fill(tokens);
        }
      };
      toggle.addEventListener("click", () => show(toggle.getAttribute("aria-expanded") !== "true"));
      if (openTokens.has(tenant.id)) show(true);
      return item;
    }

    async function remove(tenant) {
      const sure = await confirmAction(`Delete tenant ${tenant.name}? Its sessions are stopped and logged out, and all its data is removed.`, `Delete ${tenant.name}`);
      if (!sure) return;
      if ((await attempt(error, () => api.delete(tenantPath(tenant)))) !== undefined) {
        openTokens.delete(tenant.id);
        fill(created);
      }
      await refresh();
    }

    async function tokenPanel(tenant, box) {
      const tokenError = h("div", { class: "error", role: "alert", hidden: true });
      const shown = h("div", { "aria-live": "polite" });
      const rows = h("ul", { class: "rows" });
      const label = field("Label", { name: "label", autocomplete: "off", maxlength: 200 }, { hint: "Optional: what uses this token (a bot, an integration)." });
      const create = form({ class: "inline", "aria-label": `New token for ${tenant.name}` }, async (el) => {
        const body = label.input.value.trim() ? { label: label.input.value.trim() } : {};
        const token = await attempt(tokenError, () => api.post(tenantPath(tenant, "/tokens"), body), el);
        if (!token) return;
        label.input.value = "";
        fill(shown, secretBox(`New token${token.label ? ` "${token.label}"` : ""} of ${tenant.name}`, token.token, ONCE, h("button", { type: "button", onclick: () => ctx.switchTo(token.token) }, `Sign in as ${tenant.name}`)));
        await load();
      }, label.wrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Create token")));
      fill(box, h("h3", {}, `Tokens of ${tenant.name}`), create, tokenError, shown, rows);

      async function load() {
        const data = await attempt(tokenError, () => api.get(tenantPath(tenant, "/tokens")));
        if (!data) return;
        fill(rows);
        if (!data.tokens.length) append(rows, h("li", { class: "empty" }, "No tokens: this tenant cannot sign in until you create one."));
        for (const token of data.tokens) {
          append(
            rows,
            h(
              "li",
              { class: "row" },
              h("div", { class: "row-main" }, h("strong", {}, token.label || "(no label)"), h("span", { class: "muted" }, ` created ${when(token.created_at)}, last used ${when(token.last_used_at)}`)),
              h("div", { class: "actions" }, button("Revoke", async () => {
                const sure = await confirmAction(`Revoke the token ${token.label || token.id}? Clients using it are signed out at once.`, "Revoke");
                if (!sure) return;
                await attempt(tokenError, () => api.delete(tenantPath(tenant, `/tokens/${encodeURIComponent(token.id)}`)));
                await load();
              }, { class: "danger", "aria-label": `Revoke token ${token.label || token.id}` })),
            ),
          );
        }
      }
      await load();
    }

    refresh();
  },
};
