// Liveness: a blink check or a challenge of random actions from the server, filmed by the
// webcam (the prompts shown one by one while it records), the verdict with its reasons; then
// identify or verify the live face (liveness_follow.js).
import { api } from "./api.js";
import * as camera from "./camera.js";
import { clear, el, showError } from "./dom.js";
import { followUp } from "./liveness_follow.js";
import { record, sequenceForm } from "./record.js";

const FPS = 15;
const BLINK_S = 3; // longer than the pause between two natural blinks' chances; ≤ 45 frames
const ACTION_S = 2.2;
const PROMPTS = { blink: "Blink", turn_left: "Turn your head to your left", turn_right: "Turn your head to your right", smile: "Smile" };
const form = document.getElementById("liveness-form");
const video = document.getElementById("liveness-video");
const prompt = document.getElementById("prompt");
const errors = document.getElementById("liveness-error");
const startButton = document.getElementById("liveness-start");

function promptFor(actions, seconds) {
  const now = el("p", { class: "action-now" }, "Get ready");
  const steps = actions.map((a) => el("li", {}, PROMPTS[a] || a));
  const bar = el("progress", { max: 1000 * seconds, value: 0, "aria-label": "Recording" });
  const left = el("span", { class: "progress-text" }, "");
  clear(prompt).append(now, el("ol", { class: "action-steps", "aria-label": "Actions" }, ...steps),
    el("div", { class: "progress" }, bar, left));
  const slot = (1000 * seconds) / actions.length;
  return (ms) => {
    const at = Math.min(actions.length - 1, Math.floor(ms / slot));
    now.textContent = PROMPTS[actions[at]] || actions[at];
    steps.forEach((s, i) => { s.className = i < at ? "done" : i === at ? "now" : ""; });
    bar.value = ms;
    left.textContent = `${((1000 * seconds - ms) / 1000).toFixed(1)} s left`;
  };
}

function verdict(answer, mode) {
  const live = answer.live;
  const facts = el("dl", { class: "facts" },
    el("dt", {}, "frames"), el("dd", {}, `${answer.frame_count} at ${answer.fps} fps`),
    el("dt", {}, "blinks"), el("dd", {}, answer.blinks.length
      ? answer.blinks.map((b) => `frames ${b.start}–${b.end} (depth ${b.depth.toFixed(2)})`).join(", ") : "none"),
    el("dt", {}, "winks"), el("dd", {}, String(answer.winks.length)));
  if (answer.actions) {
    facts.append(el("dt", {}, "actions"), el("dd", {}, el("ul", { class: "reasons action-results", "aria-label": "Actions seen" }, ...answer.actions.map((a) =>
      el("li", { class: a.done ? "ok" : "error" }, `${PROMPTS[a.action] || a.action}: ${a.done ? `seen at frame ${a.frame}` : "not seen"}`)))));
  }
  const took = Object.values(answer.timings_ms || {}).reduce((a, b) => a + b, 0);
  facts.append(el("dt", {}, "server time"), el("dd", {}, `${Math.round(took)} ms`));
  const reasons = answer.reasons.map((r) => el("li", {}, el("code", {}, r.code), " ", r.message));
  clear(document.getElementById("verdict")).append(
    el("div", { class: `verdict ${live ? "pass" : "fail"}` },
      el("strong", { class: "verdict-word" }, live ? "LIVE" : "NOT LIVE"),
      el("span", {}, live ? (mode === "session" ? "every action was seen, in order" : "a full blink was seen")
        : "the frames did not show a live person")),
    reasons.length ? el("ul", { class: "reasons", "aria-label": "Reasons" }, ...reasons) : "", facts);
  document.getElementById("liveness-json").textContent = JSON.stringify(answer, null, 2);
  const card = document.getElementById("verdict-card");
  card.hidden = false;
  card.scrollIntoView({ block: "nearest" });
}

async function check(mode) {
  let session = null;
  let actions = ["blink"];
  if (mode === "session") {
    session = await api("/v1/liveness/sessions", { method: "POST" });
    actions = session.actions;
  }
  const seconds = mode === "session" ? ACTION_S * actions.length : BLINK_S;
  const tick = promptFor(actions, seconds);
  const recording = await record(video, { seconds, fps: FPS, onTick: tick });
  clear(prompt).append(el("p", { class: "action-now" }, "Checking…"),
    el("p", { class: "muted" }, `${recording.frames.length} frames sent at ${recording.fps} fps`));
  const answer = session
    ? await api(`/v1/liveness/sessions/${encodeURIComponent(session.id)}/frames`, { method: "POST", form: sequenceForm(recording, { nonce: session.nonce }) })
    : await api("/v1/liveness/blink", { method: "POST", form: sequenceForm(recording) });
  clear(prompt).append(el("p", { class: "muted" }, "Done. Press Start to check again."));
  verdict(answer, mode);
  followUp(answer, recording, mode, actions);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  startButton.disabled = true;
  clear(errors);
  document.getElementById("verdict-card").hidden = true;
  document.getElementById("follow-up").hidden = true;
  try {
    if (!camera.running()) await camera.start(video);
    await check(form.querySelector('input[name="mode"]:checked').value);
  } catch (error) {
    clear(prompt);
    showError(errors, error);
  } finally {
    startButton.disabled = false;
  }
});
