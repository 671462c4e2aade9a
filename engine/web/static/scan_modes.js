// Scan modes: check the cron as it is typed (POST /api/scan-modes/verify), show its next five runs, create.
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
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await window.oibus.api("POST", "/api/scan-modes", window.oibus.collect(form, {}, () => true));
    if (answer.ok) { window.location.reload(); return; }
    window.oibus.showErrors(form, answer);
  });
})();
