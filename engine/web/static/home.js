// Home dashboard: draws the last hour kept in metrics.db, then follows /sse/home (states, rates, cache sizes,
// last errors) and extends the chart with each live frame.
"use strict";
(() => {
  const HOUR_S = 3600;
  const series = [[], [], [], []];
  const previous = {};
  let totals = null;
  let chart = null;
  const el = document.getElementById("chart");
  const status = document.getElementById("chart-status");
  const width = () => Math.max(200, el.clientWidth);
  function drawChart() {
    if (!window.uPlot || !el) return;
    if (!chart) {
      chart = new uPlot({ width: width(), height: 220, series: [{ label: el.dataset.time },
        { label: el.dataset.values, stroke: "#0b5fad" }, { label: el.dataset.files, stroke: "#2e7d32" },
        { label: el.dataset.cache, stroke: "#b42318", scale: "bytes" }],
        axes: [{}, {}, { scale: "bytes", side: 1 }] }, series, el);
    } else {
      chart.setData(series);
    }
    status.textContent = `${series[0].length} ${status.dataset.points || ""}`.trim();
  }
  function human(bytes) {
    const units = ["B", "kB", "MB", "GB"]; let value = bytes; let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
  }
  function duration(ms) {
    const s = Math.floor(ms / 1000);
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h ${Math.floor((s % 3600) / 60)}m ${s % 60}s`;
  }
  function push(time, values, files, cache) {
    series[0].push(time); series[1].push(values); series[2].push(files); series[3].push(cache);
    while (series[0].length && series[0][0] < time - HOUR_S) series.forEach((s) => s.shift());
  }
  function rate(key, now, count) {
    const before = previous[key];
    previous[key] = { t: now, count };
    if (!before) return null;
    return Math.max(count - before.count, 0) / Math.max(now - before.t, 0.001);
  }
  function row(kind, id) { return document.querySelector(`table[data-kind="${kind}"] tr[data-id="${CSS.escape(id)}"]`); }
  function showState(kind, id, state) {
    const found = row(kind, id);
    if (!found || !state) return;
    found.querySelector(".state").textContent = state.connectorState ? `${state.state} (${state.connectorState})` : state.state;
    found.querySelector(".last-error").textContent = state.lastError || "";
  }
  function frame(data) {
    const now = Date.now() / 1000;
    let values = 0, files = 0, cache = 0;
    for (const [id, metrics] of Object.entries(data.souths || {})) {
      const v = metrics.numberOfValuesRetrieved || 0, f = metrics.numberOfFilesRetrieved || 0;
      values += v; files += f;
      const found = row("south", id);
      const vr = rate(`south:${id}:v`, now, v), fr = rate(`south:${id}:f`, now, f);
      if (found && vr !== null) { found.querySelector(".values-rate").textContent = vr.toFixed(1); found.querySelector(".files-rate").textContent = fr.toFixed(1); }
      if (found) found.querySelector(".files-total").textContent = f;
    }
    for (const [id, metrics] of Object.entries(data.norths || {})) {
      const size = metrics.currentCacheSize || 0; cache += size;
      const found = row("north", id);
      const sent = rate(`north:${id}:sent`, now, metrics.contentSentSize || 0);
      if (found) {
        found.querySelector(".cache-size").textContent = human(size);
        if (sent !== null) found.querySelector(".sent-rate").textContent = `${human(sent)}/s`;
      }
    }
    for (const kind of ["south", "north"]) {
      for (const [id, state] of Object.entries((data.states || {})[kind] || {})) showState(kind, id, state);
    }
    const engine = data.engine || {};
    document.getElementById("engine-uptime").textContent = duration(engine.processUptime || 0);
    document.getElementById("engine-memory").textContent = human(engine.currentRss || 0);
    // The chart's live points: the same totals the stored history is made of, as rates between two frames.
    if (totals) {
      const dt = Math.max(now - totals.t, 0.001);
      push(now, Math.max(values - totals.values, 0) / dt, Math.max(files - totals.files, 0) / dt, cache);
      drawChart();
    }
    totals = { t: now, values, files };
  }
  // Follow the viewport (a phone turned, a window resized): the chart never overflows its card.
  window.addEventListener("resize", () => { if (chart) chart.setSize({ width: width(), height: 220 }); });
  document.getElementById("engine-uptime").textContent = duration(Number(document.getElementById("engine-uptime").dataset.ms));
  document.getElementById("engine-memory").textContent = human(Number(document.getElementById("engine-memory").dataset.bytes));
  document.querySelectorAll("td.cache-size").forEach((cell) => { cell.textContent = human(Number(cell.dataset.bytes)); });
  (async () => {
    const answer = await window.oibus.api("GET", "/api/engine/metrics/history?minutes=60");
    if (answer.ok) {
      const history = answer.data;
      history.times.forEach((time, index) => push(time, history.valuesPerSecond[index], history.filesPerSecond[index], history.cacheSize[index]));
    }
    drawChart();
    const source = new EventSource("/sse/home");
    source.onmessage = (event) => frame(JSON.parse(event.data));
    window.addEventListener("pagehide", () => source.close());
  })();
})();
