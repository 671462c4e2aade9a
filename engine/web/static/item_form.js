// Item form: save through the API (field errors in place, the form kept as typed) and test the typed item.
"use strict";
(() => {
  const form = document.getElementById("item-form");
  const south = form.dataset.south;
  const id = form.dataset.id;
  const optional = (name) => name.startsWith("settings.") || name === "groupId";
  const collect = () => window.oibus.collect(form, { settings: {} }, optional);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const answer = id
      ? await window.oibus.api("PUT", `/api/south/${south}/items/${id}`, collect())
      : await window.oibus.api("POST", `/api/south/${south}/items`, collect());
    button.disabled = false;
    if (answer.ok) { window.location.href = `/south/${south}/items`; return; }
    window.oibus.showErrors(form, answer);
  });
  const outcome = document.getElementById("item-test-outcome");
  const result = document.getElementById("item-test-result");
  const raw = document.getElementById("item-test-raw");
  const table = document.getElementById("item-test-values");
  // Time-values as a table (point, time, value); the whole answer stays readable below it.
  function showValues(content) {
    table.querySelector("tbody").replaceChildren(...content.map((value) => {
      const row = document.createElement("tr");
      const shown = value.data && "value" in value.data ? value.data.value : value.data;
      for (const text of [value.pointId, value.timestamp, typeof shown === "object" ? JSON.stringify(shown) : shown]) {
        const cell = document.createElement("td"); cell.textContent = text ?? ""; row.append(cell);
      }
      return row;
    }));
    table.hidden = false;
  }
  document.getElementById("test-item").addEventListener("click", async (event) => {
    const item = collect();
    const query = new URLSearchParams({ itemName: item.name || "test" });
    if (id) query.set("itemId", id);
    event.target.disabled = true;
    outcome.className = "";
    outcome.querySelector("progress").hidden = false;
    outcome.querySelector(".outcome").textContent = outcome.dataset.running;
    raw.hidden = true;
    table.hidden = true;
    const answer = await window.oibus.api("POST", `/api/south/${south}/items/test?${query}`, { itemSettings: item.settings });
    event.target.disabled = false;
    outcome.querySelector("progress").hidden = true;
    // Bad item settings: errors next to their fields (the API names them itemSettings.<field>).
    const errors = (answer.data && answer.data.errors) || null;
    const renamed = errors ? Object.fromEntries(Object.entries(errors).map(([path, problem]) =>
      [path.replace(/^itemSettings\b/, "settings"), problem])) : null;
    window.oibus.showErrors(form, renamed ? { ok: false, status: answer.status, data: { ...answer.data, errors: renamed } } : { ok: true });
    if (!answer.ok) {
      outcome.className = "error";
      outcome.querySelector(".outcome").textContent = (answer.data && answer.data.message) || `Error ${answer.status}`;
      return;
    }
    const content = answer.data && Array.isArray(answer.data.content) ? answer.data.content : null;
    outcome.className = "ok";
    outcome.querySelector(".outcome").textContent = content
      ? outcome.dataset.values.replace("{count}", content.length) : outcome.dataset.read;
    if (content) showValues(content);
    result.textContent = JSON.stringify(answer.data, null, 2);
    raw.hidden = false;
    raw.open = !content;
  });
})();
