// Admin → users: list with role and status; add; change role; disable/enable; reset the
// password; delete. Every change goes through /v1/users and shows the API's answer.
import { api } from "./api.js";
import { labelCells } from "./table.js";
import { clear, confirmAction, el, showError, showOk, timeEl } from "./dom.js";

const ROLES = ["viewer", "operator", "admin"];
const body = document.querySelector("#users tbody");
const empty = document.getElementById("users-empty");
const result = document.getElementById("users-result");
const me = document.querySelector(".who a") ? document.querySelector(".who a").textContent.trim() : "";

// A dialog asking for a new password; resolves to it, or null when cancelled.
function askPassword(username) {
  return new Promise((resolve) => {
    const input = el("input", { id: "reset-password", type: "password", required: true, minlength: 12,
      autocomplete: "new-password" });
    const form = el("form", { method: "dialog" },
      el("h2", { id: "reset-title" }, `New password for ${username}`),
      el("p", { class: "muted small" }, "Their sessions end now; tell them the new password another way."),
      el("label", { for: "reset-password" }, "New password"), input,
      el("div", { class: "actions" },
        el("button", { type: "button", class: "quiet", value: "cancel" }, "Cancel"),
        el("button", { type: "submit" }, "Set password")));
    const dialog = el("dialog", { class: "confirm", "aria-labelledby": "reset-title" }, form);
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    form.querySelector("button[type=button]").addEventListener("click", () => done(null));
    form.addEventListener("submit", (event) => { event.preventDefault(); done(input.value); });
    dialog.addEventListener("cancel", () => done(null));
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

async function change(user, patch, said) {
  try {
    const changed = await api(`/v1/users/${encodeURIComponent(user.id)}`, { method: "PATCH", json: patch });
    showOk(result, said(changed));
    await load();
  } catch (error) {
    showError(result, error);
    await load();
  }
}

function roleSelect(user) {
  const select = el("select", { "aria-label": `Role of ${user.username}`, class: "compact" },
    ROLES.map((role) => el("option", { value: role, selected: role === user.role }, role)));
  select.addEventListener("change", () => change(user, { role: select.value },
    (u) => `${u.username} is now ${u.role}.`));
  return select;
}

function actions(user) {
  const toggle = el("button", { type: "button", class: "quiet small-button" }, user.disabled ? "Enable" : "Disable");
  toggle.addEventListener("click", () => change(user, { disabled: !user.disabled },
    (u) => `${u.username} is ${u.disabled ? "disabled: their sessions ended" : "enabled"}.`));
  const reset = el("button", { type: "button", class: "quiet small-button" }, "Reset password");
  reset.addEventListener("click", async () => {
    const password = await askPassword(user.username);
    if (password) change(user, { password }, (u) => `${u.username}'s password was changed; their sessions ended.`);
  });
  const remove = el("button", { type: "button", class: "danger small-button" }, "Delete");
  remove.addEventListener("click", async () => {
    const sure = await confirmAction(`Delete ${user.username}?`,
      `${user.username} can no longer sign in and their sessions end now. Their past requests stay in the audit log.`);
    if (!sure) return;
    try {
      await api(`/v1/users/${encodeURIComponent(user.id)}`, { method: "DELETE" });
      showOk(result, `${user.username} was deleted.`);
    } catch (error) {
      showError(result, error);
    }
    await load();
  });
  return el("div", { class: "row-actions" }, toggle, reset, remove);
}

function row(user) {
  return el("tr", { dataset: { username: user.username } },
    el("td", {}, el("strong", {}, user.username), user.username === me ? el("span", { class: "muted small" }, " (you)") : null),
    el("td", {}, roleSelect(user)),
    el("td", {}, el("span", { class: user.disabled ? "pill off" : "pill on" }, user.disabled ? "disabled" : "enabled")),
    el("td", {}, timeEl(user.created_at)),
    el("td", {}, actions(user)));
}

async function load() {
  try {
    const page = await api("/v1/users");
    clear(body).append(...page.items.map(row));
    labelCells(document.getElementById("users"));
    empty.hidden = page.items.length > 1;
  } catch (error) {
    showError(result, error);
  }
}

const form = document.getElementById("add-user");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const json = { username: form.username.value.trim(), role: form.role.value, password: form.password.value };
  try {
    const user = await api("/v1/users", { method: "POST", json });
    showOk(result, `Added ${user.username} as ${user.role}: they can sign in now.`);
    form.reset();
    await load();
  } catch (error) {
    showError(result, error);
  }
});

load();
