// After a liveness verdict: identify or verify the live face. A blink check's frames go to the
// liveness-gated routes (/v1/identify?liveness=blink, /v1/verify?liveness=blink), which check
// them again and read their best frame; a challenge without a blink sends the best frame of
// the sequence the server just judged live to /v1/identify and /v1/verify.
import { api, photoForm } from "./api.js";
import { clear, el, showError, showOk } from "./dom.js";
import { drawFaces, faceLabel, fmt } from "./overlay.js";
import { personPicker } from "./person_pick.js";
import { sequenceForm } from "./record.js";

const card = document.getElementById("follow-up");
const how = document.getElementById("follow-how");
const result = document.getElementById("follow-result");
const canvas = document.getElementById("best-frame");
const verifyForm = document.getElementById("live-verify");
let current = null; // {recording, best, gated}

async function showFrame(faces) {
  const blob = current.recording.frames[current.best];
  if (!blob) return;
  const bitmap = await createImageBitmap(blob);
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  drawFaces(ctx, faces);
  canvas.hidden = false;
}

async function identify() {
  clear(result).append(el("p", { class: "muted" }, "Identifying…"));
  try {
    let answer;
    if (current.gated) {
      const gated = await api("/v1/identify?liveness=blink", { method: "POST", form: sequenceForm(current.recording) });
      if (!gated.live) { showError(result, { code: "NOT_LIVE", message: gated.liveness.reasons.map((r) => r.code).join(", ") }); return; }
      current.best = gated.liveness.best_frame;
      answer = gated.identify;
    } else {
      answer = await api("/v1/identify", { method: "POST", form: photoForm({ image: current.recording.frames[current.best] }) });
    }
    const names = answer.faces.map((f) => faceLabel(f).text);
    showOk(result, `Live face: ${names.join("; ")}`);
    await showFrame(answer.faces);
  } catch (error) { showError(result, error); }
}

async function verify(event) {
  event.preventDefault();
  const identity = verifyForm.identity_id.value;
  if (!identity) { showError(result, { code: "INCOMPLETE", message: "Pick a person first." }); return; }
  clear(result).append(el("p", { class: "muted" }, "Verifying…"));
  try {
    let answer;
    if (current.gated) {
      const gated = await api("/v1/verify?liveness=blink", { method: "POST", form: sequenceForm(current.recording, { identity_id: identity }) });
      if (!gated.live) { showError(result, { code: "NOT_LIVE", message: gated.liveness.reasons.map((r) => r.code).join(", ") }); return; }
      answer = gated.verify;
    } else {
      answer = await api("/v1/verify", { method: "POST", form: photoForm({ image: current.recording.frames[current.best] }, { identity_id: identity }) });
    }
    const same = answer.match;
    clear(result).append(el("div", { class: `verdict ${same ? "pass" : "fail"}` },
      el("strong", { class: "verdict-word" }, same ? "Same person" : "Not the same person"),
      el("span", {}, `distance ${fmt(answer.distance)} ${same ? "≤" : ">"} threshold ${fmt(answer.threshold, 2)}`),
      el("span", { class: "muted small" }, `against ${answer.identity ? answer.identity.name : "?"}`)));
  } catch (error) { showError(result, error); }
}

export function followUp(answer, recording, mode, actions) {
  card.hidden = !answer.live || answer.best_frame === null;
  canvas.hidden = true;
  clear(result);
  if (card.hidden) return;
  const gated = mode === "blink" || actions.includes("blink");
  current = { recording, best: answer.best_frame, gated };
  how.textContent = gated
    ? "The same frames go to the liveness-gated identify and verify, which check the blink again and read the best frame."
    : `Frame ${answer.best_frame}, the best of the sequence the server just judged live, is identified or verified.`;
}

document.getElementById("live-identify").addEventListener("click", identify);
verifyForm.addEventListener("submit", verify);
personPicker(document.getElementById("person-search"), verifyForm.identity_id, (error) => showError(result, error));
