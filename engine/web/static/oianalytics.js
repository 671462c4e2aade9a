// OIAnalytics page: registration through the API, the code while PENDING, the status, the commands.
"use strict";
(() => {
  const form = document.getElementById("oia-form");
  const outcome = document.getElementById("oia-outcome");
  const optional = () => true;
  async function refresh() {
    const answer = await window.oibus.api("GET", "/api/oianalytics/registration");
    if (!answer.ok) return;
    const registration = answer.data;
    document.getElementById("oia-status").textContent = registration.status;
    document.getElementById("oia-code").textContent = registration.activationCode || "–";
    document.getElementById("oia-host").textContent = registration.host || "–";
    const commands = await window.oibus.api("GET", "/api/oianalytics/commands/search");
    if (commands.ok) {
      document.querySelector("#oia-commands tbody").replaceChildren(...commands.data.content.map((command) => {
        const row = document.createElement("tr");
        for (const text of [command.type, command.status, command.retrievedDate, command.result]) {
          const cell = document.createElement("td"); cell.textContent = text ?? ""; row.append(cell);
        }
        return row;
      }));
    }
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await window.oibus.api("POST", "/api/oianalytics/register", window.oibus.collect(form, {}, optional));
    window.oibus.showErrors(form, answer);
    if (answer.ok) form.querySelectorAll('input[type="password"]').forEach((input) => { input.value = ""; });
    refresh();
  });
  document.getElementById("oia-test").addEventListener("click", async () => {
    outcome.textContent = "…";
    const answer = await window.oibus.api("POST", "/api/oianalytics/registration/test-connection");
    outcome.textContent = answer.ok ? "OK" : ((answer.data && answer.data.message) || `Error ${answer.status}`);
  });
  document.getElementById("oia-unregister").addEventListener("click", async (event) => {
    if (!window.confirm(event.target.dataset.confirm)) return;
    const answer = await window.oibus.api("POST", "/api/oianalytics/unregister");
    outcome.textContent = answer.ok ? "" : ((answer.data && answer.data.message) || `Error ${answer.status}`);
    refresh();
  });
  refresh();
  setInterval(refresh, 2000);
})();
