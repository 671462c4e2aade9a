// Home dashboard: follows /sse/home, computes rates from the cumulative counters, draws the last hour.
"use strict";
(() => {
  const HOUR_S = 3600;
  const series = [[], [], [], []];
  const previous = {};
  let chart = null;
  const el = document.getElementById("chart");
  function drawChart() {
    if (!window.uPlot || !el) return;
    if (!chart) {
      chart = new uPlot({ width: Math.max(200, el.clientWidth), height: 220, series: [{},
        { label: el.dataset.values, stroke: "#0b5fad" }, { label: el.dataset.files, stroke: "#2e7d32" },
        { label: el.dataset.cache, stroke: "#b42318", scale: "bytes" }],
        axes: [{}, {}, { scale: "bytes", side: 1 }] }, series, el);
    } else {
      chart.setData(series);
    }
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
  function frame(data) {
    const now = Date.now() / 1000;
    let values = 0, files = 0, cache = 0;
    for (const [id, metrics] of Object.entries(data.souths || {})) {
      const row = document.querySelector(`table[data-kind="south"] tr[data-id="${CSS.escape(id)}"]`);
      const before = previous[id];
      const v = metrics.numberOfValuesRetrieved || 0, f = metrics.numberOfFilesRetrieved || 0;
      if (before) {
        const dt = Math.max(now - before.t, 0.001);
        const vr = Math.max(v - before.v, 0) / dt, fr = Math.max(f - before.f, 0) / dt;
        values += vr; files += fr;
        if (row) { row.querySelector(".values-rate").textContent = vr.toFixed(1); row.querySelector(".files-rate").textContent = fr.toFixed(1); }
      }
      previous[id] = { t: now, v, f };
      if (row) row.querySelector(".files-total").textContent = f;
    }
    for (const [id, metrics] of Object.entries(data.norths || {})) {
      const row = document.querySelector(`table[data-kind="north"] tr[data-id="${CSS.escape(id)}"]`);
      const size = metrics.currentCacheSize || 0; cache += size;
      if (row) row.querySelector(".cache-size").textContent = human(size);
    }
    const engine = data.engine || {};
    // Follow the viewport (a phone turned, a window resized): the chart never overflows its card.
  window.addEventListener("resize", () => { if (chart) chart.setSize({ width: Math.max(200, el.clientWidth), height: 220 }); });
  document.getElementById("engine-uptime").textContent = duration(engine.processUptime || 0);
    document.getElementById("engine-memory").textContent = human(engine.currentRss || 0);
    series[0].push(now); series[1].push(values); series[2].push(files); series[3].push(cache);
    while (series[0].length && series[0][0] < now - HOUR_S) series.forEach((s) => s.shift());
    drawChart();
  }
  // Follow the viewport (a phone turned, a window resized): the chart never overflows its card.
  window.addEventListener("resize", () => { if (chart) chart.setSize({ width: Math.max(200, el.clientWidth), height: 220 }); });
  document.getElementById("engine-uptime").textContent = duration(Number(document.getElementById("engine-uptime").dataset.ms));
  document.getElementById("engine-memory").textContent = human(Number(document.getElementById("engine-memory").dataset.bytes));
  const source = new EventSource("/sse/home");
  source.onmessage = (event) => frame(JSON.parse(event.data));
  window.addEventListener("pagehide", () => source.close());
})();
