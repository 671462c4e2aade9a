// Connector form: post (create) or put (edit) the typed values to the API as JSON, show its field errors in place,
// and on an edit test the connection with the typed settings. The form is never re-rendered: what was typed stays.
"use strict";
(() => {
  const form = document.getElementById("connector-form");
  const kind = form.dataset.kind;
  const id = form.dataset.id;
  const optional = (name) => name.startsWith("settings.") || name.includes(".settings.");
  const stored = document.getElementById("stored-caching");
  // On an edit, a secret is never shown: an empty input keeps the stored one, and says so.
  if (id) form.querySelectorAll('[data-kind="secret"]').forEach((input) => { input.placeholder = form.dataset.secretKept; });
  function body() {
    const start = { type: form.dataset.type, settings: {} };
    // A North sends back its stored caching with what the form changes (scan mode, archive switch).
    if (stored) start.caching = JSON.parse(stored.textContent);
    const collected = window.oibus.collect(form, start, optional);
    if (collected.caching && collected.caching.trigger) delete collected.caching.trigger.scanModeName;
    if (collected.items) collected.items[0].enabled = true;
    return collected;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const answer = id
      ? await window.oibus.api("PUT", `/api/${kind}/${id}`, body())
      : await window.oibus.api("POST", `/api/${kind}`, body());
    button.disabled = false;
    if (answer.ok) { window.location.href = `/${kind}`; return; }
    window.oibus.showErrors(form, answer);
  });
  const test = document.getElementById("test-connection");
  if (!test) return;
  const outcome = document.getElementById("test-outcome");
  test.addEventListener("click", async () => {
    const progress = outcome.querySelector("progress");
    const text = outcome.querySelector(".outcome");
    test.disabled = true;
    progress.hidden = false;
    outcome.className = "";
    text.textContent = outcome.dataset.running;
    const sent = body();
    const answer = await window.oibus.api("POST", `/api/${kind}/${id}/test/connection`,
      { type: sent.type, settings: sent.settings });
    test.disabled = false;
    progress.hidden = true;
    outcome.className = answer.ok ? "ok" : "error";
    // Bad settings: their errors go next to their fields, as on save.
    window.oibus.showErrors(form, answer.data && answer.data.errors ? answer : { ok: true });
    text.textContent = answer.ok ? outcome.dataset.ok : ((answer.data && answer.data.message) || `Error ${answer.status}`);
  });
})();
