// Explore: each opened node asks the API for one page of its children (100), "More" follows the cursor;
// the checked variables are added as items of the chosen scan mode (OPC UA: DA items; ADS: symbols by name).
"use strict";
(() => {
  const browser = document.getElementById("browser");
  const south = browser.dataset.south;
  // What an item takes from a picked node: an ADS symbol's name is its address; an OPC UA node is read as DA.
  const itemSettings = { ads: (node) => ({ address: node }) };
  const settingsOf = itemSettings[browser.dataset.type] || ((node) => ({ nodeId: node, mode: "da" }));
  const banner = browser.querySelector(".form-error");
  const PAGE = 100;
  const fail = (answer) => {
    banner.textContent = (answer.data && answer.data.message) || JSON.stringify((answer.data && answer.data.errors) || answer.status);
    banner.hidden = false;
  };
  const entry = (child) => {
    const li = document.createElement("li");
    li.dataset.node = child.nodeId;
    if (child.hasChildren) {
      const toggle = document.createElement("button");
      toggle.type = "button"; toggle.className = "browse-open"; toggle.textContent = "▸";
      toggle.setAttribute("aria-label", `${browser.dataset.open} ${child.displayName}`);
      toggle.setAttribute("aria-expanded", "false");
      li.append(toggle, " ");
    }
    if (child.nodeClass === "Variable") {
      const box = document.createElement("input");
      box.type = "checkbox"; box.className = "browse-pick"; box.value = child.nodeId; box.dataset.name = child.displayName;
      box.id = `pick-${child.nodeId}`;
      const label = document.createElement("label");
      label.htmlFor = box.id; label.textContent = `${child.displayName} (${child.nodeId})`;
      li.append(box, " ", label);
    } else {
      li.append(`${child.displayName} (${child.nodeId})`);
    }
    return li;
  };
  const load = async (list, node, cursor) => {
    const query = new URLSearchParams({ pageSize: String(PAGE) });
    if (node) query.set("node", node);
    if (cursor) query.set("cursor", cursor);
    const answer = await window.oibus.api("GET", `/api/south/${encodeURIComponent(south)}/browse?${query}`);
    if (!answer.ok) { fail(answer); return; }
    banner.hidden = true;
    list.querySelector(":scope > li.browse-more")?.remove();
    list.append(...answer.data.children.map(entry));
    if (answer.data.cursor) {
      const li = document.createElement("li"); li.className = "browse-more";
      const more = document.createElement("button");
      more.type = "button"; more.textContent = browser.dataset.more;
      more.addEventListener("click", () => load(list, node, answer.data.cursor));
      li.append(more); list.append(li);
    }
  };
  browser.addEventListener("click", async (event) => {
    const toggle = event.target.closest("button.browse-open");
    if (!toggle) return;
    const li = toggle.closest("li");
    const open = toggle.getAttribute("aria-expanded") === "true";
    const children = li.querySelector(":scope > ul");
    if (open) { children.hidden = true; toggle.setAttribute("aria-expanded", "false"); toggle.textContent = "▸"; return; }
    toggle.setAttribute("aria-expanded", "true"); toggle.textContent = "▾";
    if (children) { children.hidden = false; return; }
    const list = document.createElement("ul"); li.append(list);
    await load(list, li.dataset.node, null);
  });
  document.getElementById("browse-add").addEventListener("submit", async (event) => {
    event.preventDefault();
    const picked = [...browser.querySelectorAll(".browse-pick:checked")];
    const scanModeId = document.getElementById("browse-scan-mode").value;
    let added = 0;
    for (const box of picked) {
      const body = { name: box.dataset.name, enabled: true, scanModeId, settings: settingsOf(box.value) };
      const answer = await window.oibus.api("POST", `/api/south/${encodeURIComponent(south)}/items`, body);
      if (!answer.ok) { fail(answer); break; }
      added += 1; box.checked = false;
    }
    const outcome = document.getElementById("browse-outcome");
    outcome.textContent = `${added} ${outcome.dataset.done}`;
  });
  load(document.getElementById("browse-root"), null, null);
})();
