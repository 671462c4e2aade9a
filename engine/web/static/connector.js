// Connector form: collect the typed values as JSON, post them to the API, show its field errors in place.
"use strict";
(() => {
  const form = document.getElementById("connector-form");
  function put(target, path, value) {
    const parts = path.split(".");
    let node = target;
    parts.slice(0, -1).forEach((part, index) => {
      const nextIsIndex = /^\d+$/.test(parts[index + 1]);
      if (node[part] === undefined) node[part] = nextIsIndex ? [] : {};
      node = node[part];
    });
    node[parts[parts.length - 1]] = value;
  }
  function collect() {
    const body = { type: form.dataset.type, settings: {} };
    for (const input of form.querySelectorAll("[data-kind]")) {
      const kind = input.dataset.kind;
      let value;
      if (kind === "boolean") value = input.checked;
      else if (kind === "integer" || kind === "number") value = input.value === "" ? null : Number(input.value);
      else if (kind === "secret") { if (input.value === "") continue; value = input.value; }
      else value = input.value;
      const optional = (input.name.startsWith("settings.") || input.name.includes(".settings.")) && !input.required;
      if (value === null || (value === "" && optional)) continue;
      put(body, input.name, value);
    }
    if (body.items) body.items[0].enabled = true;
    return body;
  }
  function clearErrors() {
    form.querySelectorAll(".field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
    form.querySelector(".form-error").hidden = true;
  }
  function fieldFor(path) {
    // API paths look like "settings.inputFolder" or "items[0].settings.regex".
    const dotted = path.replace(/\[(\d+)\]/g, ".$1");
    let probe = dotted;
    while (probe) {
      const found = form.querySelector(`[data-field="${CSS.escape(probe)}"]`);
      if (found) return found;
      probe = probe.includes(".") ? probe.slice(0, probe.lastIndexOf(".")) : "";
    }
    return null;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const answer = await window.oibus.api("POST", `/api/${form.dataset.kind}`, collect());
    button.disabled = false;
    if (answer.ok) { window.location.href = `/${form.dataset.kind}`; return; }
    const banner = form.querySelector(".form-error");
    const errors = (answer.data && answer.data.errors) || {};
    let placed = 0;
    for (const [path, problem] of Object.entries(errors)) {
      const field = fieldFor(path);
      if (!field) continue;
      const slot = field.querySelector(".field-error");
      if (slot) { slot.textContent = problem; slot.hidden = false; placed += 1; }
    }
    banner.textContent = placed ? banner.dataset.invalid : ((answer.data && answer.data.message) || `Error ${answer.status}`);
    banner.hidden = false;
  });
})();
