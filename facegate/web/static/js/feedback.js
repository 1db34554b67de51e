// Feedback on the bench's identify answers (POST /v1/feedback, the same route as the CLI):
// per face "Correct" and "Wrong" when it was named, and "It is…" (a person picker) always.
// The effect, or the API's error code and message, shows in the face's cell, with an Undo
// (DELETE /v1/feedback/{request_id}/{face_index}). Needs the enrol scope.
import { api } from "./api.js";
import { clear, el, may, showError, showOk } from "./dom.js";
import { personPicker } from "./person_pick.js";

function effectText(answer, named) {
  if (answer.effect === "negative_anchor") {
    return `Noted: not ${named}. A face nearer this one than ${named}'s own photos will not be named ${named}.`;
  }
  if (answer.effect === "enrolled") return "Enrolled: the face is now one of this person's samples.";
  return "Thanks: recorded as correct.";
}

export function feedbackCell(requestId, face, index) {
  const cell = el("td", { class: "feedback-cell", dataset: { label: "Feedback" } });
  if (!requestId || !may("enrol")) return cell;
  const named = face.identity ? face.identity.name : null;
  const status = el("div", { class: "feedback-status", "aria-live": "polite" });
  const actions = el("div", { class: "feedback-actions" });
  const picker = el("div", { class: "feedback-picker", hidden: true });
  const label = `face ${index + 1}`;

  async function send(verdict, identityId) {
    const json = { request_id: requestId, face_index: index, verdict };
    if (identityId) json.identity_id = identityId;
    try {
      const answer = await api("/v1/feedback", { method: "POST", json });
      actions.hidden = true;
      picker.hidden = true;
      const undo = el("button", { type: "button", class: "quiet small" }, "Undo");
      undo.addEventListener("click", () => takeBack(undo));
      showOk(status, effectText(answer, named), " ", undo);
    } catch (error) { showError(status, error); }
  }

  async function takeBack(button) {
    button.disabled = true;
    try {
      await api(`/v1/feedback/${encodeURIComponent(requestId)}/${index}`, { method: "DELETE" });
      showOk(status, "Undone.");
      actions.hidden = false;
    } catch (error) { showError(status, error); button.disabled = false; }
  }

  if (named) {
    const right = el("button", { type: "button", class: "quiet small", "aria-label": `${label}: ${named} is correct` }, "Correct");
    const wrong = el("button", { type: "button", class: "quiet small", "aria-label": `${label}: not ${named}` }, "Wrong");
    right.addEventListener("click", () => send("correct"));
    wrong.addEventListener("click", () => send("wrong"));
    actions.append(right, wrong);
  }
  const other = el("button", { type: "button", class: "quiet small", "aria-label": `${label}: it is someone else` },
    "It is…");
  actions.append(other);

  const search = el("input", { id: `fb-search-${index}`, type: "search", placeholder: "Part of a name", autocomplete: "off" });
  const select = el("select", { id: `fb-person-${index}` });
  const enrol = el("button", { type: "button", class: "small" }, "Enrol to this person");
  const cancel = el("button", { type: "button", class: "quiet small" }, "Cancel");
  picker.append(el("label", { for: search.id, class: "small" }, `Who is ${label}?`), search,
    el("label", { for: select.id, class: "visually-hidden" }, "Person"), select,
    el("div", { class: "toolbar" }, enrol, cancel));
  let loaded = false;
  other.addEventListener("click", () => {
    picker.hidden = false;
    actions.hidden = true;
    if (!loaded) { personPicker(search, select, (error) => showError(status, error)); loaded = true; }
    search.focus();
  });
  cancel.addEventListener("click", () => { picker.hidden = true; actions.hidden = false; clear(status); });
  enrol.addEventListener("click", () => {
    if (!select.value) { showError(status, { code: "NO_PERSON", message: "Choose the person first." }); return; }
    send("is", select.value);
  });
  cell.append(actions, picker, status);
  return cell;
}
