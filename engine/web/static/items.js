// Items page: keep the sort in the filters, move the checked items to a group, create and rename groups,
// and import a CSV in two steps (check: each row new, updating the item of its name, or with its errors;
// then confirm).
"use strict";
(() => {
  const filters = document.getElementById("item-filters");
  const south = filters.dataset.south;
  const refresh = () => window.htmx.trigger(filters, "submit");
  const failure = (answer) => (answer.data && answer.data.message) || `Error ${answer.status}`;

  // The sort lives in the swapped table: copy it into the filters so that a search keeps it.
  document.body.addEventListener("htmx:afterSwap", () => {
    const table = document.getElementById("items-table");
    if (!table) return;
    document.getElementById("item-sort").value = table.dataset.sort;
    document.getElementById("item-order").value = table.dataset.order;
  });
  document.addEventListener("change", (event) => {
    if (event.target.id !== "items-all") return;
    document.querySelectorAll(".item-check").forEach((box) => { box.checked = event.target.checked; });
  });

  document.getElementById("move-items").addEventListener("click", async () => {
    const outcome = document.getElementById("bulk-outcome");
    const itemIds = [...document.querySelectorAll(".item-check:checked")].map((box) => box.value);
    if (!itemIds.length) { outcome.textContent = outcome.dataset.none || "–"; return; }
    const groupId = document.getElementById("move-group").value || null;
    const answer = await window.oibus.api("POST", `/api/south/${south}/items/move-to-group`, { itemIds, groupId });
    outcome.textContent = answer.ok ? "" : failure(answer);
    if (answer.ok) refresh();
  });

  // Groups: create (field errors next to the fields), rename or change the scan mode in place.
  const groupForm = document.getElementById("group-form");
  groupForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = window.oibus.collect(groupForm, {}, () => false);
    const answer = await window.oibus.api("POST", `/api/south/${south}/groups`, body);
    window.oibus.showErrors(groupForm, answer);
    if (answer.ok) window.location.reload();
  });
  document.getElementById("groups-table").addEventListener("click", async (event) => {
    const button = event.target.closest(".group-save");
    if (!button) return;
    const row = button.closest("tr");
    const slot = row.querySelector(".field-error");
    const body = { standardSettings: { name: row.querySelector(".group-name").value,
      scanModeId: row.querySelector(".group-mode").value } };
    const answer = await window.oibus.api("PUT", `/api/south/${south}/groups/${row.dataset.group}`, body);
    slot.hidden = answer.ok;
    slot.textContent = answer.ok ? "" : Object.values((answer.data && answer.data.errors) || {}).join("; ") || failure(answer);
    row.querySelector(".group-status").textContent = answer.ok ? row.dataset.saved : "";
    if (!answer.ok) return;
    // The new name also shows in the "move to" list; the table rows show it on their next refresh.
    document.querySelector(`#move-group option[value="${CSS.escape(row.dataset.group)}"]`).textContent = body.standardSettings.name;
    refresh();
  });

  // CSV import: check, show every row, then import what the operator confirms.
  const importForm = document.getElementById("import-form");
  const outcome = document.getElementById("import-outcome");
  const preview = document.getElementById("import-preview");
  let checked = null;
  function say(text, state, busy) {
    outcome.className = state;
    outcome.querySelector("progress").hidden = !busy;
    outcome.querySelector(".outcome").textContent = text;
  }
  async function post(path, data) {
    const response = await fetch(path, { method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRF-Token": window.oibus.csrf() } });
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = { message: text }; }
    return { ok: response.ok, status: response.status, data: parsed };
  }
  function row(cells, kind) {
    const tr = document.createElement("tr");
    tr.className = kind;
    for (const text of cells) { const td = document.createElement("td"); td.textContent = text ?? ""; tr.append(td); }
    return tr;
  }
  importForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("import-file").files[0];
    if (!file) { say(document.getElementById("import-file").validationMessage, "error", false); return; }
    const data = new FormData();
    data.append("itemsToImport", file);
    data.append("delimiter", document.getElementById("import-delimiter").value);
    say(outcome.dataset.checking, "", true);
    const answer = await post(`/api/south/${south}/items/import/check`, data);
    if (!answer.ok) { say(failure(answer), "error", false); preview.hidden = true; return; }
    checked = { file, delimiter: data.get("delimiter"), ...answer.data };
    const byLine = new Map();
    for (const error of checked.errors) {
      if (!byLine.has(error.line)) byLine.set(error.line, { name: error.item.name, problems: [] });
      byLine.get(error.line).problems.push(error.error);
    }
    // Every row of the file in its order: new, updating the item of its name, or its errors.
    const rows = checked.items.map((item) => [item.line, row([item.line, item.name,
      item.action === "update" ? outcome.dataset.update : outcome.dataset.new], `row-${item.action}`)]);
    for (const [line, found] of byLine.entries()) {
      rows.push([line, row([line, found.name, found.problems.join("; ")], "row-error")]);
    }
    rows.sort((a, b) => a[0] - b[0]);
    const updated = checked.items.filter((item) => item.action === "update").length;
    preview.querySelector("tbody").replaceChildren(...rows.map((entry) => entry[1]));
    preview.hidden = false;
    document.getElementById("import-confirm").disabled = checked.items.length === 0;
    say(outcome.dataset.summary.replace("{new}", checked.items.length - updated).replace("{updated}", updated)
      .replace("{errors}", byLine.size), byLine.size ? "error" : "ok", false);
  });
  document.getElementById("import-cancel").addEventListener("click", () => { preview.hidden = true; checked = null; say("", "", false); });
  document.getElementById("import-confirm").addEventListener("click", async () => {
    if (!checked) return;
    const data = new FormData();
    // Without errors the CSV itself goes (it keeps any secret it holds); with some, only the rows that passed.
    if (checked.errors.length === 0) { data.append("itemsToImport", checked.file); data.append("delimiter", checked.delimiter); }
    else data.append("items", JSON.stringify(checked.items));
    say(outcome.dataset.checking, "", true);
    const answer = await post(`/api/south/${south}/items/import`, data);
    if (!answer.ok) { say(failure(answer), "error", false); return; }
    const updates = checked.items.filter((item) => item.action === "update").length;
    say(outcome.dataset.done.replace("{new}", checked.items.length - updates).replace("{updated}", updates), "ok", false);
    preview.hidden = true;
    checked = null;
    refresh();
  });
})();
