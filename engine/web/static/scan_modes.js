// Scan modes: a cron checked as it is typed (POST /api/scan-modes/verify, next five runs) or an interval,
// with an optional activation window; create or edit through the API, which names any bad field.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("scan-mode-form");
  const cron = $("sm-cron");
  const type = $("sm-type");
  const windowBox = $("sm-window");
  const cronError = cron.parentElement.querySelector(".field-error");
  const intervalError = $("sm-interval-field").querySelector(".field-error");
  let asked = 0;
  // The next five runs of what the form holds (cron or interval, skipping what the window excludes).
  const preview = async () => {
    const mine = ++asked;
    const timing = body();
    const answer = await window.oibus.api("POST", "/api/scan-modes/verify", {
      type: timing.type, cron: timing.cron, interval: timing.interval, activationWindow: timing.activationWindow, count: 5,
    });
    if (mine !== asked) return;
    const isCron = type.value === "cron";
    const error = isCron ? cronError : intervalError;
    const human = $(isCron ? "sm-cron-human" : "sm-interval-human");
    const next = $(isCron ? "sm-cron-next" : "sm-interval-next");
    const result = answer.ok ? answer.data : { isValid: false, errorMessage: (answer.data && answer.data.message) || "" };
    error.hidden = result.isValid; error.textContent = result.isValid ? "" : result.errorMessage;
    human.textContent = result.isValid ? [result.humanReadableForm, result.errorMessage].filter(Boolean).join(": ") : "";
    next.replaceChildren(...(result.isValid ? result.nextExecutions || [] : []).slice(0, 5).map((when) => {
      const item = document.createElement("li"); item.textContent = when; return item;
    }));
  };
  form.addEventListener("input", preview);
  form.addEventListener("change", preview);
  const showType = () => {
    $("sm-cron-field").hidden = type.value !== "cron";
    $("sm-interval-field").hidden = type.value !== "interval";
  };
  const showWindow = () => { $("sm-window-fields").hidden = !windowBox.checked; };
  type.addEventListener("change", showType);
  windowBox.addEventListener("change", showWindow);
  // datetime-local is the browser's local time; the API takes instants (ISO-8601, UTC).
  const toInstant = (text) => (text ? new Date(text).toISOString() : null);
  const toLocal = (instant) => {
    if (!instant) return "";
    const date = new Date(instant);
    return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  };
  const activationWindow = () => {
    if (!windowBox.checked) return null;
    const days = [...document.querySelectorAll(".sm-day:checked")].map((box) => Number(box.value));
    const start = $("sm-tod-start").value, end = $("sm-tod-end").value;
    const timezone = $("sm-timezone").value.trim();
    const recurring = timezone || days.length || start || end
      ? { timezone, daysOfWeek: days, timeOfDay: start || end ? { start, end } : null } : null;
    const from = toInstant($("sm-start").value), to = toInstant($("sm-end").value);
    return { dateRange: from || to ? { start: from, end: to } : null, recurring };
  };
  const body = () => ({
    name: form.elements.name.value,
    description: form.elements.description.value,
    type: type.value,
    cron: type.value === "cron" ? cron.value : "",
    interval: type.value === "interval"
      ? { value: $("sm-interval-value").value === "" ? null : Number($("sm-interval-value").value), unit: $("sm-interval-unit").value }
      : null,
    activationWindow: activationWindow(),
  });
  const fill = (mode) => {
    form.elements.name.value = mode.name; form.elements.description.value = mode.description;
    type.value = mode.type || "cron"; cron.value = mode.cron || "";
    $("sm-interval-value").value = mode.interval ? mode.interval.value : 1;
    $("sm-interval-unit").value = mode.interval ? (mode.interval.unit === "h" ? "hour" : mode.interval.unit) : "s";
    const win = mode.activationWindow;
    windowBox.checked = Boolean(win);
    const range = (win && win.dateRange) || {}, recurring = (win && win.recurring) || {};
    $("sm-start").value = toLocal(range.start); $("sm-end").value = toLocal(range.end);
    $("sm-timezone").value = recurring.timezone || "";
    const days = new Set(recurring.daysOfWeek || []);
    document.querySelectorAll(".sm-day").forEach((box) => { box.checked = days.has(Number(box.value)); });
    $("sm-tod-start").value = (recurring.timeOfDay && recurring.timeOfDay.start) || "";
    $("sm-tod-end").value = (recurring.timeOfDay && recurring.timeOfDay.end) || "";
    showType(); showWindow();
  };
  // A new window starts in the browser's zone, as upstream captures the user's zone.
  windowBox.addEventListener("change", () => {
    if (windowBox.checked && !$("sm-timezone").value) $("sm-timezone").value = Intl.DateTimeFormat().resolvedOptions().timeZone;
  });
  const heading = $("scan-mode-form-h");
  const cancel = $("scan-mode-cancel");
  let editing = null;
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.edit-mode");
    if (!button) return;
    const mode = JSON.parse(button.dataset.mode);
    editing = mode.id;
    fill(mode);
    heading.textContent = `${form.dataset.edit}: ${mode.name}`;
    cancel.hidden = false;
    preview();
    form.elements.name.focus();
  });
  cancel.addEventListener("click", () => {
    editing = null; form.reset(); heading.textContent = form.dataset.create; cancel.hidden = true;
    showType(); showWindow();
    preview();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = editing
      ? await window.oibus.api("PUT", `/api/scan-modes/${encodeURIComponent(editing)}`, body())
      : await window.oibus.api("POST", "/api/scan-modes", body());
    if (answer.ok) { window.location.reload(); return; }
    window.oibus.showErrors(form, answer);
  });
  showType(); showWindow();
})();
