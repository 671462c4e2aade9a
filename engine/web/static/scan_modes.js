// Scan modes: check the cron as it is typed (POST /api/scan-modes/verify), show its next five runs, create or edit.
"use strict";
(() => {
  const form = document.getElementById("scan-mode-form");
  const cron = document.getElementById("sm-cron");
  const error = cron.parentElement.querySelector(".field-error");
  let asked = 0;
  cron.addEventListener("input", async () => {
    const mine = ++asked;
    const answer = await window.oibus.api("POST", "/api/scan-modes/verify", { cron: cron.value, count: 5 });
    if (mine !== asked || !answer.ok) return;
    const result = answer.data;
    error.hidden = result.isValid; error.textContent = result.isValid ? "" : result.errorMessage;
    document.getElementById("sm-cron-human").textContent = result.isValid ? result.humanReadableForm : "";
    document.getElementById("sm-cron-next").replaceChildren(...(result.nextExecutions || []).slice(0, 5).map((when) => {
      const item = document.createElement("li"); item.textContent = when; return item;
    }));
  });
  const heading = document.getElementById("scan-mode-form-h");
  const cancel = document.getElementById("scan-mode-cancel");
  let editing = null;
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.edit-mode");
    if (!button) return;
    editing = button.dataset.id;
    for (const name of ["name", "description", "cron"]) form.elements[name].value = button.dataset[name];
    heading.textContent = `${form.dataset.edit}: ${button.dataset.name}`;
    cancel.hidden = false;
    cron.dispatchEvent(new Event("input"));
    form.elements.name.focus();
  });
  cancel.addEventListener("click", () => {
    editing = null; form.reset(); heading.textContent = form.dataset.create; cancel.hidden = true;
    cron.dispatchEvent(new Event("input"));
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = window.oibus.collect(form, {}, () => true);
    const answer = editing
      ? await window.oibus.api("PUT", `/api/scan-modes/${encodeURIComponent(editing)}`, body)
      : await window.oibus.api("POST", "/api/scan-modes", body);
    if (answer.ok) { window.location.reload(); return; }
    window.oibus.showErrors(form, answer);
  });
})();
