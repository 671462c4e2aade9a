// Engine page: save the whole settings form with PUT /api/engine (field errors in place), restart and wait for the engine.
"use strict";
(() => {
  const form = document.getElementById("engine-form");
  const ok = form.querySelector(".form-ok");
  ok.dataset.saved = ok.textContent;
  // A saved port change: the next engine listens there, so this page cannot follow it by polling.
  let movedTo = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ok.hidden = true;
    // Every text is sent, empty ones too (an emptied Loki address is cleared); an empty password is left out.
    const body = window.oibus.collect(form, {}, () => false);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const answer = await window.oibus.api("PUT", "/api/engine", body);
    button.disabled = false;
    window.oibus.showErrors(form, answer);
    if (!answer.ok) return;
    form.querySelectorAll('input[type="password"]').forEach((input) => { input.value = ""; });
    const port = body.webServer && body.webServer.port;
    movedTo = port && String(port) !== form.dataset.port ? port : null;
    ok.textContent = movedTo ? `${form.dataset.moved} ${port}.` : ok.dataset.saved;
    ok.hidden = false;
  });
  const restart = document.getElementById("engine-restart");
  const status = document.getElementById("engine-restart-status");
  const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
  // The engine process answering now (its pid), or null while none answers.
  async function engineProcess() {
    try {
      const answer = await fetch("/api/engine/info", { cache: "no-store", credentials: "same-origin" });
      return answer.ok ? (await answer.json()).processId : null;
    } catch (_) { return null; }
  }
  restart.addEventListener("click", async () => {
    if (!window.confirm(restart.dataset.confirm)) return;
    restart.disabled = true;
    status.textContent = restart.dataset.restarting;
    const before = await engineProcess();
    const answer = await window.oibus.api("POST", "/api/engine/restart");
    if (!answer.ok) { status.textContent = (answer.data && answer.data.message) || `Error ${answer.status}`; restart.disabled = false; return; }
    if (movedTo) {
      const link = document.createElement("a");
      link.href = `${window.location.protocol}//${window.location.hostname}:${movedTo}/engine`;
      link.textContent = link.href;
      status.replaceChildren(`${restart.dataset.elsewhere} `, link);
      return;
    }
    // The engine answers, then stops; the launcher starts a new process. Wait for it (60 s at most).
    for (let waited = 0; waited < 60000; waited += 500) {
      await sleep(500);
      const now = await engineProcess();
      if (now !== null && now !== before) { status.textContent = restart.dataset.restarted; restart.disabled = false; return; }
    }
    status.textContent = restart.dataset.notBack;
    restart.disabled = false;
  });
})();
