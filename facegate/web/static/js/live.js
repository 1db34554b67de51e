// Live identify: a webcam frame about every 300 ms to /v1/identify (never two in flight),
// boxes and names drawn over the video as the answers come back.
import { api, photoForm } from "./api.js";
import * as camera from "./camera.js";
import { clear, el, showError } from "./dom.js";
import { drawFaces, faceLabel } from "./overlay.js";

const PERIOD_MS = 300;
const video = document.getElementById("live-video");
const overlay = document.getElementById("live-overlay");
const status = document.getElementById("live-status");
const list = document.getElementById("live-faces");
const errors = document.getElementById("live-error");
const startButton = document.getElementById("live-start");
const stopButton = document.getElementById("live-stop");
let run = 0; // the current loop's number; a stopped loop sees it change and ends
let answers = []; // times of recent answers, for the rate

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function show(faces, latency) {
  overlay.width = video.videoWidth;
  overlay.height = video.videoHeight;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  drawFaces(ctx, faces);
  clear(list).append(...faces.map((face) => {
    const { known, text } = faceLabel(face);
    return el("li", { class: known ? "known" : "unknown" }, text);
  }));
  const now = performance.now();
  answers = answers.filter((t) => now - t < 3000).concat(now);
  const rate = answers.length > 1 ? (1000 * (answers.length - 1)) / (now - answers[0]) : 0;
  status.textContent = `Running · ${rate.toFixed(1)} answers/s · last ${Math.round(latency)} ms · ${faces.length} face${faces.length === 1 ? "" : "s"}`;
}

async function loop(mine) {
  while (mine === run) {
    const began = performance.now();
    try {
      const blob = await camera.frame(video, { quality: 0.85 });
      const answer = await api("/v1/identify", { method: "POST", form: photoForm({ image: blob }) });
      if (mine !== run) return;
      clear(errors);
      show(answer.faces, performance.now() - began);
    } catch (error) {
      if (mine !== run) return;
      if (error.code === "NO_FACE_FOUND") show([], performance.now() - began);
      else { showError(errors, error); if (error.code === "CAMERA_UNAVAILABLE" || error.status === 401) { stop(); return; } }
    }
    await sleep(Math.max(0, PERIOD_MS - (performance.now() - began)));
  }
}

async function start() {
  startButton.disabled = true;
  clear(errors);
  try {
    await camera.start(video);
  } catch (error) {
    startButton.disabled = false;
    showError(errors, error);
    return;
  }
  stopButton.disabled = false;
  status.textContent = "Running · waiting for the first answer…";
  answers = [];
  loop(++run);
}

function stop() {
  run += 1;
  camera.stop();
  video.srcObject = null;
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  clear(list);
  status.textContent = "Stopped. Press Start to open the camera.";
  startButton.disabled = false;
  stopButton.disabled = true;
}

startButton.addEventListener("click", start);
stopButton.addEventListener("click", stop);
document.addEventListener("visibilitychange", () => { if (document.hidden && !stopButton.disabled) stop(); });
