// Administration pages: one form creates (POST) or edits (PUT .../{id}) a row; the API's field errors go next to the fields.
"use strict";
(() => {
  const form = document.getElementById("resource-form");
  const heading = document.getElementById("resource-form-h");
  const cancel = document.getElementById("resource-cancel");
  let editing = null;
  const createOnly = [...form.querySelectorAll("[data-create-only]")];
  function get(row, path) { return path.split(".").reduce((node, part) => (node == null ? undefined : node[part]), row); }
  function reset() {
    editing = null; form.reset(); heading.textContent = form.dataset.create; cancel.hidden = true;
    createOnly.forEach((wrapper) => { wrapper.hidden = false; });
    window.oibus.showErrors(form, { ok: true });
  }
  // A group none of whose required fields is filled is left out (a certificate imported rather than generated).
  function dropEmptyGroups(body) {
    for (const group of form.querySelectorAll("fieldset[data-group]")) {
      const required = [...group.querySelectorAll("[required]")];
      if (required.length && required.every((input) => input.value === "")) {
        const parts = group.dataset.group.split(".");
        const parent = parts.slice(0, -1).reduce((node, part) => (node ? node[part] : undefined), body);
        if (parent) delete parent[parts[parts.length - 1]];
      }
    }
    return body;
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.edit[data-row]");
    if (!button) return;
    const row = JSON.parse(button.dataset.row);
    reset();
    editing = row.id;
    heading.textContent = `${form.dataset.edit}: ${button.closest("tr").firstElementChild.textContent}`;
    cancel.hidden = false;
    createOnly.forEach((wrapper) => { wrapper.hidden = true; });
    for (const input of form.querySelectorAll("[data-kind]")) {
      const value = get(row, input.name);
      if (input.dataset.kind === "secret" || value === undefined || value === null) continue;
      if (input.dataset.kind === "boolean") input.checked = Boolean(value);
      else input.value = input.dataset.kind === "json" ? JSON.stringify(value) : String(value);
    }
    form.querySelector("[data-kind]").focus();
  });
  cancel.addEventListener("click", reset);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = dropEmptyGroups(window.oibus.collect(form, {}, () => true));
    if (editing) createOnly.forEach((wrapper) => { delete body[wrapper.dataset.createOnly]; });
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const answer = editing
      ? await window.oibus.api("PUT", `${form.dataset.api}/${encodeURIComponent(editing)}`, body)
      : await window.oibus.api("POST", form.dataset.api, body);
    button.disabled = false;
    if (answer.ok) { window.location.reload(); return; }
    window.oibus.showErrors(form, answer);
  });
})();
