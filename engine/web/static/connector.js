// Connector form: post the typed values to the API as JSON and show its field errors in place.
"use strict";
(() => {
  const form = document.getElementById("connector-form");
  const optional = (name) => name.startsWith("settings.") || name.includes(".settings.");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = window.oibus.collect(form, { type: form.dataset.type, settings: {} }, optional);
    if (body.items) body.items[0].enabled = true;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const answer = await window.oibus.api("POST", `/api/${form.dataset.kind}`, body);
    button.disabled = false;
    if (answer.ok) { window.location.href = `/${form.dataset.kind}`; return; }
    window.oibus.showErrors(form, answer);
  });
})();
