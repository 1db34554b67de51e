// Identify test bench: a photo (upload or webcam) → /v1/identify → the photo with every face's
// box and label on a canvas, a table of the faces, the timings per stage and the raw JSON.
import { api, photoForm } from "./api.js";
import * as camera from "./camera.js";
import { clear, el, showError, showOk } from "./dom.js";
import { feedbackCell } from "./feedback.js";
import { decisive, drawFaces, faceLabel, fmt } from "./overlay.js";
import "./verify.js";

const form = document.getElementById("identify-form");
const result = document.getElementById("identify-result");
const output = document.getElementById("identify-output");
const canvas = document.getElementById("annotated");
const video = document.getElementById("camera");
const cameraBox = document.getElementById("camera-box");
let snapshot = null; // a webcam photo (Blob), used instead of the file input when set

function candidates(face) {
  return (face.candidates || []).map((c) => `${c.name} ${fmt(c.distance)}`).join(", ") || "nobody enrolled";
}

// The plain distance to the nearest candidate, when the cohort rule adjusted it.
function plain(face) {
  const best = face.identity || (face.candidates || [])[0];
  if (!best || typeof face.adjusted_distance !== "number" || fmt(face.adjusted_distance) === fmt(best.distance)) return "";
  return el("span", { class: "muted small", title: "cohort-adjusted; the plain distance in brackets" },
    ` (plain ${fmt(best.distance)})`);
}

// Why a face within the threshold is unknown: wrong feedback on a face this close (its anchors).
function refused(face) {
  if (!face.refused_identity_id) return "";
  const who = (face.candidates || []).find((c) => c.identity_id === face.refused_identity_id);
  return el("span", { class: "muted small", title: "within the threshold, refused by its negative anchors" },
    ` (${who ? who.name : "the nearest person"} refused: a face this close was marked wrong)`);
}

function row(face, i, requestId) {
  const { known, name } = faceLabel(face);
  const b = face.box;
  return el("tr", { class: known ? "known" : "unknown", dataset: { box: [b.left, b.top, b.right, b.bottom].join(",") } },
    el("td", { dataset: { label: "#" } }, String(i + 1)),
    el("td", { class: "who-cell", dataset: { label: "Who" } }, known ? el("strong", {}, name) : el("em", {}, "unknown"),
      refused(face)),
    el("td", { class: "num", dataset: { label: "Distance" } }, fmt(decisive(face)),
      plain(face)),
    el("td", { class: "num", dataset: { label: "Threshold" } }, fmt(face.threshold, 2)),
    el("td", { dataset: { label: "Nearest" } }, candidates(face)),
    el("td", { class: "num small", dataset: { label: "Box" } }, `${b.left},${b.top} ${b.right - b.left}×${b.bottom - b.top}`),
    feedbackCell(requestId, face, i));
}

async function draw(photo, answer) {
  const bitmap = await createImageBitmap(photo, { imageOrientation: "from-image" });
  canvas.width = answer.image.width;
  canvas.height = answer.image.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  drawFaces(ctx, answer.faces);
}

function timings(answer) {
  const list = clear(document.getElementById("timings"));
  let total = 0;
  for (const [stage, ms] of Object.entries(answer.timings_ms || {})) {
    total += ms;
    list.append(el("dt", {}, stage), el("dd", {}, `${fmt(ms, 1)} ms`));
  }
  list.append(el("dt", {}, "total"), el("dd", {}, el("strong", {}, `${fmt(total, 1)} ms`)));
}

async function identify(photo) {
  const fields = { threshold: form.threshold.value, top_k: form.top_k.value };
  clear(result).append(el("p", { class: "muted" }, "Identifying…"));
  try {
    const answer = await api("/v1/identify", { method: "POST", form: photoForm({ image: photo }, fields) });
    await draw(photo, answer);
    clear(output.querySelector("#faces tbody")).append(...answer.faces.map((face, i) => row(face, i, answer.request_id)));
    timings(answer);
    document.getElementById("identify-json").textContent = JSON.stringify(answer, null, 2);
    const known = answer.faces.filter((f) => f.status === "identified").length;
    const n = answer.faces.length;
    showOk(result, `${n} face${n === 1 ? "" : "s"} found: ${known} identified, ${n - known} unknown.`);
    output.hidden = false;
  } catch (error) {
    output.hidden = true;
    showError(result, error);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const photo = snapshot || form.image.files[0];
  if (!photo) { showError(result, { code: "NO_PHOTO", message: "Choose a photo or take one with the webcam first." }); return; }
  identify(photo);
});
form.image.addEventListener("change", () => { snapshot = null; });

document.getElementById("use-camera").addEventListener("click", async () => {
  try {
    cameraBox.hidden = false;
    snap.disabled = true;
    await camera.start(video);
    snap.disabled = false;
  } catch (error) {
    cameraBox.hidden = true;
    showError(result, error);
  }
});
const snap = document.getElementById("snap");
snap.addEventListener("click", async () => {
  try {
    const blob = await camera.frame(video);
    snapshot = new File([blob], "webcam.jpg", { type: "image/jpeg" });
    form.image.value = "";
    identify(snapshot);
  } catch (error) { showError(result, error); }
});
document.getElementById("camera-off").addEventListener("click", () => {
  camera.stop();
  video.srcObject = null;
  cameraBox.hidden = true;
});

// The annotated canvas as a PNG file: an object URL, revoked once the download started.
document.getElementById("download").addEventListener("click", () => {
  canvas.toBlob((blob) => {
    if (!blob) { showError(result, { code: "CANVAS_ERROR", message: "The image could not be encoded." }); return; }
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: "facegate-identify.png", hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }, "image/png");
});
