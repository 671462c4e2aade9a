// Logs page: reads GET /api/logs with the filters, pages through it, tails it every 2 s unless paused.
"use strict";
(() => {
  const form = document.getElementById("log-filters");
  const body = document.querySelector("#log-table tbody");
  const status = document.getElementById("log-status");
  let page = 0, pages = 1, timer = null;
  function query() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (!value) continue;
      params.append(name, (name === "start" || name === "end") ? new Date(value).toISOString() : value);
    }
    params.set("page", String(page));
    return params;
  }
  async function load() {
    const response = await fetch(`/api/logs?${query()}`, { credentials: "same-origin" });
    const data = await response.json();
    if (!response.ok) { status.textContent = data.message || `Error ${response.status}`; return; }
    pages = Math.max(data.totalPages || 1, 1);
    status.textContent = `${data.totalElements} logs`;
    document.getElementById("log-page").textContent = `${page + 1} / ${pages}`;
    body.replaceChildren(...data.content.map((log) => {
      const row = document.createElement("tr");
      for (const text of [log.timestamp, log.level, log.scopeName || log.scopeType, log.message]) {
        const cell = document.createElement("td"); cell.textContent = text ?? ""; row.append(cell);
      }
      return row;
    }));
  }
  function tail() {
    clearInterval(timer);
    if (document.getElementById("log-tail").checked) timer = setInterval(() => { if (page === 0) load(); }, 2000);
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); page = 0; load(); });
  document.getElementById("log-tail").addEventListener("change", tail);
  document.getElementById("log-prev").addEventListener("click", () => { if (page > 0) { page -= 1; load(); } });
  document.getElementById("log-next").addEventListener("click", () => { if (page + 1 < pages) { page += 1; load(); } });
  load(); tail();
})();
