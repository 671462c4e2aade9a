// Transformers page: fill the code and a sample input from the input type's template, and test the
// transformer as typed (not saved) in the engine's sandbox; its field errors go next to the fields.
"use strict";
(() => {
  const form = document.getElementById("resource-form");
  const section = document.getElementById("transformer-test");
  const outcome = document.getElementById("transformer-outcome");
  const output = document.getElementById("transformer-output");
  const input = document.getElementById("test-input");
  function say(text, state, busy) {
    outcome.className = state;
    outcome.querySelector("progress").hidden = !busy;
    outcome.querySelector(".outcome").textContent = text;
  }
  const failure = (answer) => (answer.data && answer.data.message) || `Error ${answer.status}`;

  document.getElementById("transformer-template").addEventListener("click", async () => {
    const type = form.querySelector('[name="inputType"]').value;
    const answer = await window.oibus.api("GET", `/api/transformers/template/${encodeURIComponent(type)}`);
    if (!answer.ok) { say(failure(answer), "error", false); return; }
    const code = form.querySelector('[name="customCode"]');
    if (code.value.trim() === "") code.value = answer.data.code;
    input.value = answer.data.data;
  });

  document.getElementById("transformer-run").addEventListener("click", async () => {
    const command = window.oibus.collect(form, {}, () => true);
    let options = {};
    try { options = JSON.parse(document.getElementById("test-options").value || "{}"); } catch (_) { options = document.getElementById("test-options").value; }
    say(section.dataset.testing, "", true);
    output.hidden = true;
    const answer = await window.oibus.api("POST", "/api/transformers/test",
      { command, testRequest: { inputData: input.value, options } });
    // The API names the command's fields as command.<field>: put them next to the form's fields.
    const errors = {};
    for (const [path, problem] of Object.entries((answer.data && answer.data.errors) || {})) {
      errors[path.replace(/^command\./, "")] = problem;
    }
    window.oibus.showErrors(form, answer.ok ? answer : { ...answer, data: { ...answer.data, errors } });
    if (!answer.ok) { say(Object.values(errors).join("; ") || failure(answer), "error", false); return; }
    say(section.dataset.done.replace("{count}", answer.data.metadata.numberOfElement ?? 0), "ok", false);
    output.textContent = answer.data.output;
    output.hidden = false;
  });
})();
