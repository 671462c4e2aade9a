// Change one's own password: the current one, the new one twice; the session ends with it (log in again).
"use strict";
(() => {
  const form = document.getElementById("password-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (name) => form.elements[name].value;
    const errors = {};
    for (const name of ["currentPassword", "newPassword", "confirmPassword"]) if (!value(name)) errors[name] = form.dataset.required;
    if (value("newPassword") && value("confirmPassword") && value("newPassword") !== value("confirmPassword")) errors.confirmPassword = form.dataset.mismatch;
    if (Object.keys(errors).length) { window.oibus.showErrors(form, { ok: false, status: 400, data: { errors } }); return; }
    const answer = await window.oibus.api("POST", `/api/users/${encodeURIComponent(form.dataset.user)}/password`,
      { currentPassword: value("currentPassword"), newPassword: value("newPassword") });
    if (answer.ok) { window.location.href = "/login"; return; }
    window.oibus.showErrors(form, answer);
  });
})();
