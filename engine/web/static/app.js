// Shared helpers: API calls with the session's CSRF token, generated forms, and the [data-api] buttons.
"use strict";
window.oibus = {
  csrf() { return document.querySelector('meta[name="csrf-token"]').content; },
  async api(method, path, body) {
    const headers = { "X-CSRF-Token": this.csrf() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    const text = await response.text();
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = { message: text }; }
    return { ok: response.ok, status: response.status, data };
  },
  put(target, path, value) {
    const parts = path.split(".");
    let node = target;
    parts.slice(0, -1).forEach((part, index) => {
      if (node[part] === undefined) node[part] = /^\d+$/.test(parts[index + 1]) ? [] : {};
      node = node[part];
    });
    node[parts[parts.length - 1]] = value;
  },
  // The typed values of a generated form as JSON: numbers as numbers, switches as booleans; an empty
  // secret is left out (the API keeps the stored one), and so is an empty optional text.
  collect(form, body, optional) {
    for (const input of form.querySelectorAll("[data-kind]")) {
      const kind = input.dataset.kind;
      let value;
      if (kind === "boolean") value = input.checked;
      else if (kind === "integer" || kind === "number") value = input.value === "" ? null : Number(input.value);
      else if (kind === "secret") { if (input.value === "") continue; value = input.value; }
      else if (kind === "json") {
        // Text that is not JSON goes as typed: the API then names the field and what it expected.
        if (input.value.trim() === "") continue;
        try { value = JSON.parse(input.value); } catch (_) { value = input.value; }
      }
      else value = input.value;
      if (value === null || (value === "" && !input.required && optional(input.name))) continue;
      this.put(body, input.name, value);
    }
    return body;
  },
  // Put each of the API's field errors ({path: problem}) next to the field it names; say so above the form.
  showErrors(form, answer) {
    form.querySelectorAll(".field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
    const banner = form.querySelector(".form-error");
    if (answer.ok) { banner.hidden = true; return; }
    let placed = 0;
    for (const [path, problem] of Object.entries((answer.data && answer.data.errors) || {})) {
      let probe = path.replace(/\[(\d+)\]/g, ".$1");
      let field = null;
      // The field the path names, else the nearest fieldset above it (an error about the whole settings object).
      while (probe && !field) {
        const name = CSS.escape(probe);
        field = form.querySelector(`[data-field="${name}"], [data-group="${name}"]`);
        probe = probe.includes(".") ? probe.slice(0, probe.lastIndexOf(".")) : "";
      }
      const slot = field && field.querySelector(":scope > .field-error");
      if (slot) { slot.textContent = problem; slot.hidden = false; placed += 1; }
    }
    banner.textContent = placed ? banner.dataset.invalid : ((answer.data && answer.data.message) || `Error ${answer.status}`);
    banner.hidden = false;
  },
};
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-api]");
  if (!button) return;
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  button.disabled = true;
  const answer = await window.oibus.api(button.dataset.method || "POST", button.dataset.api);
  button.disabled = false;
  if (!answer.ok) { window.alert((answer.data && answer.data.message) || `Error ${answer.status}`); return; }
  // A page whose table is swapped by htmx refreshes that table (keeping its search and page); others reload.
  // A [data-reload] button reloads the page even there (what it changed is outside the swapped table).
  const refresh = document.querySelector("[data-refresh]");
  if (refresh && window.htmx && !("reload" in button.dataset)) window.htmx.trigger(refresh, "submit");
  else if (!button.dataset.noReload) window.location.reload();
});
