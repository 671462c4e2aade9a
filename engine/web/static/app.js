// Shared helpers: API calls with the session's CSRF token, and the [data-api] action buttons.
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
  const refresh = document.querySelector("[data-refresh]");
  if (refresh && window.htmx) window.htmx.trigger(refresh, "submit");
  else window.location.reload();
});
