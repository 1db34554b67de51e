import { api } from "./api.js";
import { showError, showOk } from "./dom.js";

const form = document.getElementById("password-form");
const result = form.querySelector(".result");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (form.new_password.value !== form.repeat_password.value) {
    showError(result, { code: "PASSWORDS_DIFFER", message: "The two new passwords differ." });
    return;
  }
  try {
    await api("/v1/auth/password", { method: "POST", json: {
      current_password: form.current_password.value, new_password: form.new_password.value } });
    form.reset();
    showOk(result, "Password changed. Your other sessions were signed out.");
  } catch (error) {
    showError(result, error);
  }
});
