// Verify on the test bench: a photo against a second photo or an enrolled person (/v1/verify).
import { api, photoForm } from "./api.js";
import { personPicker } from "./person_pick.js";
import { clear, el, showError } from "./dom.js";
import { fmt } from "./overlay.js";

const form = document.getElementById("verify-form");
const result = document.getElementById("verify-result");
const raw = document.getElementById("verify-raw");
const search = document.getElementById("person-search");
const select = document.getElementById("person");

function mode() { return form.querySelector('input[name="mode"]:checked').value; }

function showMode() {
  const byPerson = mode() === "person";
  document.getElementById("by-person").hidden = !byPerson;
  document.getElementById("by-image").hidden = byPerson;
  form.image2.required = !byPerson;
  select.required = byPerson;
}

function verdict(answer) {
  const same = answer.match;
  const who = answer.identity ? answer.identity.name : "the second photo";
  clear(result).append(el("div", { class: `verdict ${same ? "pass" : "fail"}` },
    el("strong", { class: "verdict-word" }, same ? "Same person" : "Not the same person"),
    el("span", {}, `distance ${fmt(answer.distance)} ${same ? "≤" : ">"} threshold ${fmt(answer.threshold, 2)}`),
    el("span", { class: "muted small" }, `against ${who}`)));
  document.getElementById("verify-json").textContent = JSON.stringify(answer, null, 2);
  raw.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const files = { image: form.image.files[0] };
  const extra = {};
  if (mode() === "image") files.image2 = form.image2.files[0];
  else extra.identity_id = select.value;
  if (!files.image || (mode() === "image" && !files.image2) || (mode() === "person" && !select.value)) {
    showError(result, { code: "INCOMPLETE", message: "Choose a photo and what to compare it with." });
    return;
  }
  clear(result).append(el("p", { class: "muted" }, "Verifying…"));
  raw.hidden = true;
  try {
    verdict(await api("/v1/verify", { method: "POST", form: photoForm(files, extra) }));
  } catch (error) { showError(result, error); }
});
for (const radio of form.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", showMode);
showMode();
personPicker(search, select, (error) => showError(result, error));
