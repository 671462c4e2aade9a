// North cache explorer: search the three folders through the API, view, retry, archive or remove entries.
"use strict";
(() => {
  const form = document.getElementById("cache-filters");
  const north = form.dataset.north;
  const status = document.getElementById("cache-status");
  const ACTIONS = {
    cache: [["Archive", (name) => ({ cache: { move: [{ filename: name, to: "archive" }] } })],
            ["Remove", (name) => ({ cache: { remove: [name] } })]],
    error: [["Retry", (name) => ({ error: { move: [{ filename: name, to: "cache" }] } })],
            ["Remove", (name) => ({ error: { remove: [name] } })]],
    archive: [["Retry", (name) => ({ archive: { move: [{ filename: name, to: "cache" }] } })],
              ["Remove", (name) => ({ archive: { remove: [name] } })]],
  };
  function button(label, onClick) {
    const element = document.createElement("button");
    element.type = "button"; element.textContent = label; element.addEventListener("click", onClick);
    return element;
  }
  async function view(folder, name) {
    const response = await fetch(`/api/north/${north}/cache/content/${encodeURIComponent(name)}?folder=${folder}`,
      { credentials: "same-origin" });
    document.getElementById("cache-content").textContent = response.ok ? await response.text() : `Error ${response.status}`;
  }
  async function load() {
    const params = new URLSearchParams(new FormData(form));
    status.textContent = "…";
    const response = await fetch(`/api/north/${north}/cache/search?${params}`, { credentials: "same-origin" });
    const data = await response.json();
    if (!response.ok) { status.textContent = data.message || `Error ${response.status}`; return false; }
    status.textContent = "";
    for (const folder of ["cache", "error", "archive"]) {
      const body = document.querySelector(`table[data-folder="${folder}"] tbody`);
      body.replaceChildren(...(data[folder] || []).map((entry) => {
        const row = document.createElement("tr");
        for (const text of [entry.contentFile, entry.contentSize, entry.createdAt]) {
          const cell = document.createElement("td"); cell.textContent = text; row.append(cell);
        }
        const actions = document.createElement("td");
        actions.append(button("View", () => view(folder, entry.filename)));
        for (const [label, change] of ACTIONS[folder]) {
          actions.append(button(label, async () => {
            const answer = await window.oibus.api("POST", `/api/north/${north}/cache/update`, change(entry.filename));
            if (!answer.ok) status.textContent = (answer.data && answer.data.message) || `Error ${answer.status}`;
            load();
          }));
        }
        row.append(actions);
        return row;
      }));
    }
    return true;
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  load();
})();
