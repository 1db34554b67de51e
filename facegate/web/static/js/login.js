import { api } from "./api.js";
import { showError } from "./dom.js";

const form = document.getElementById("login");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("/v1/auth/login", { method: "POST", csrf: false, json: {
      username: form.username.value, password: form.password.value } });
    location.assign(form.dataset.next || "/ui/");
  } catch (error) {
    showError(document.getElementById("notice"), error);
    form.password.value = "";
    form.password.focus();
  } finally {
    button.disabled = false;
  }
});
