// Admin → API keys: list (never a secret), create with scopes and expiry, rotate, revoke.
// A new secret is shown once, in a dialog, and kept nowhere: closing the dialog drops it.
import { api } from "./api.js";
import { labelCells } from "./table.js";
import { clear, confirmAction, el, showError, showOk, timeEl } from "./dom.js";

const body = document.querySelector("#keys tbody");
const empty = document.getElementById("keys-empty");
const result = document.getElementById("keys-result");

function status(key) {
  if (key.revoked_at) return el("span", { class: "pill off" }, "revoked ", timeEl(key.revoked_at));
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return el("span", { class: "pill off" }, "expired");
  return el("span", { class: "pill on" }, "active");
}

async function copy(text, input, said) {
  try {
    await navigator.clipboard.writeText(text);
    said.textContent = "Copied.";
  } catch (error) {
    input.select();
    said.textContent = "Select the key and copy it yourself (the browser refused the clipboard).";
  }
}

// The secret, shown once. Resolves when the admin closes the dialog.
function showSecret(key) {
  return new Promise((resolve) => {
    const input = el("input", { id: "key-secret", readonly: true, value: key.secret, spellcheck: "false",
      autocomplete: "off", class: "secret" });
    const said = el("span", { class: "small", role: "status", "aria-live": "polite" });
    const copyButton = el("button", { type: "button" }, "Copy");
    const close = el("button", { type: "button", class: "quiet" }, "I have stored it: close");
    const dialog = el("dialog", { class: "confirm secret-dialog", "aria-labelledby": "secret-title" },
      el("h2", { id: "secret-title" }, `The secret of key "${key.name}"`),
      el("p", { class: "warn" }, el("strong", {}, "Copy it now: it is shown only this once. "),
        "facegate keeps only a hash of it; if it is lost, rotate the key."),
      el("label", { for: "key-secret" }, "Secret"), input,
      el("div", { class: "actions" }, said, copyButton, close));
    const done = () => { input.value = ""; dialog.close(); dialog.remove(); resolve(); };
    copyButton.addEventListener("click", () => copy(input.value, input, said));
    close.addEventListener("click", done);
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    document.body.append(dialog);
    dialog.showModal();
    input.select();
  });
}

function actions(key) {
  if (key.revoked_at) return el("span", { class: "muted small" }, "—");
  const rotate = el("button", { type: "button", class: "quiet small-button" }, "Rotate");
  rotate.addEventListener("click", async () => {
    const sure = await confirmAction(`Rotate "${key.name}"?`,
      "A new key with the same name, scopes and expiry is made, and this one stops working at once: " +
      "every program using it needs the new secret.", "Rotate");
    if (!sure) return;
    try {
      const fresh = await api(`/v1/keys/${encodeURIComponent(key.id)}/rotate`, { method: "POST" });
      await load();
      showOk(result, `"${key.name}" was rotated: the old key is revoked.`);
      await showSecret(fresh);
    } catch (error) {
      showError(result, error);
    }
  });
  const revoke = el("button", { type: "button", class: "danger small-button" }, "Revoke");
  revoke.addEventListener("click", async () => {
    const sure = await confirmAction(`Revoke "${key.name}"?`,
      "Every request with this key is refused from now on, by every replica. This cannot be undone.", "Revoke");
    if (!sure) return;
    try {
      await api(`/v1/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      showOk(result, `"${key.name}" was revoked: the API refuses it now.`);
    } catch (error) {
      showError(result, error);
    }
    await load();
  });
  return el("div", { class: "row-actions" }, rotate, revoke);
}

function row(key) {
  return el("tr", { dataset: { key: key.name }, class: key.revoked_at ? "revoked" : null },
    el("td", {}, el("strong", {}, key.name)),
    el("td", {}, el("code", {}, key.prefix.endsWith("-") ? `${key.prefix}…` : `fg_${key.prefix}_…`)),
    el("td", {}, key.scopes.join(", ")),
    el("td", {}, key.expires_at ? timeEl(key.expires_at) : el("span", { class: "muted" }, "never")),
    el("td", {}, timeEl(key.created_at)),
    el("td", {}, key.last_used_at ? timeEl(key.last_used_at) : el("span", { class: "muted" }, "never")),
    el("td", {}, status(key)),
    el("td", {}, actions(key)));
}

async function load() {
  try {
    const page = await api("/v1/keys");
    const keys = [...page.items].reverse(); // newest first
    clear(body).append(...keys.map(row));
    labelCells(document.getElementById("keys"));
    document.getElementById("keys").parentElement.hidden = keys.length === 0;
    empty.hidden = keys.length > 0;
  } catch (error) {
    showError(result, error);
  }
}

const form = document.getElementById("add-key");
// A CompreFace service is a UUID key with that service's scopes (docs/compat.md).
const SERVICES = { recognition: ["recognize", "enrol", "read"], detection: ["recognize"],
  verification: ["recognize"] };
form.service.addEventListener("change", () => {
  const wanted = SERVICES[form.service.value];
  if (!wanted) return;
  for (const box of form.querySelectorAll("input[name=scopes]")) box.checked = wanted.includes(box.value);
  if (!form.name.value.trim()) form.name.value = `compreface-${form.service.value}`;
});
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const scopes = [...form.querySelectorAll("input[name=scopes]:checked")].map((box) => box.value);
  const days = form.expires_in_days.value.trim();
  const json = { name: form.name.value.trim(), scopes };
  if (days) json.expires_in_days = Number(days);
  const given = form.key.value.trim();
  if (given) json.key = given;
  else if (form.service.value) json.uuid = true;
  try {
    const key = await api("/v1/keys", { method: "POST", json });
    form.reset();
    await load();
    showOk(result, `Key "${key.name}" was created with ${key.scopes.join(", ")}.`);
    await showSecret(key);
  } catch (error) {
    showError(result, error);
  }
});

load();
