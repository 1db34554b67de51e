// Add a face from the webcam: every ~400 ms a frame goes to POST /v1/detect; the first frame
// with exactly one face that is centred (box centre in the middle third) and large enough
// (box width >= 15% of the frame: about 100 px on a 640x480 camera) is sent to enrol.
// The camera stops when done or on leaving the page.
import { api, photoForm } from "./api.js";
import { clear, el, showError, showOk } from "./dom.js";

const EVERY_MS = 400;
const MIN_WIDTH = 0.15;

// What the user should do, or null when the frame can be enrolled.
export function advice(faces, width, height) {
  if (faces.length === 0) return "No face seen: look at the camera.";
  if (faces.length > 1) return "One face only, please: others should step out of the picture.";
  const box = faces[0].box;
  const cx = (box.left + box.right) / 2 / width;
  const cy = (box.top + box.bottom) / 2 / height;
  if (cx < 1 / 3 || cx > 2 / 3 || cy < 1 / 3 || cy > 2 / 3) return "Centre your face in the picture.";
  if (box.width < MIN_WIDTH * width) return "Move closer to the camera.";
  return null;
}

function frameBlob(video, canvas) {
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
}

export function setupWebcam(base, onEnrolled) {
  const video = document.getElementById("camera");
  const hint = document.getElementById("camera-hint");
  const overlay = document.getElementById("camera-box");
  const start = document.getElementById("camera-start");
  const stop = document.getElementById("camera-stop");
  const result = document.getElementById("camera-result");
  const canvas = el("canvas");
  canvas.className = "enrolled-frame";
  canvas.hidden = true;
  canvas.setAttribute("aria-label", "The frame that was enrolled");
  video.after(canvas);
  let stream = null;
  let timer = null;

  function outline(box) {
    overlay.hidden = !box;
    if (!box) return;
    const w = video.videoWidth, h = video.videoHeight;
    Object.assign(overlay.style, { left: `${(100 * box.left) / w}%`, top: `${(100 * box.top) / h}%`,
      width: `${(100 * box.width) / w}%`, height: `${(100 * box.height) / h}%` });
  }

  function halt(message) {
    clearTimeout(timer);
    timer = null;
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    outline(null);
    start.disabled = false;
    stop.disabled = true;
    hint.textContent = message || "The camera is off.";
  }

  async function enrol(blob) {
    try {
      const answer = await api(`${base}/faces`, { method: "POST",
        form: photoForm({ image: new File([blob], "webcam.jpg", { type: "image/jpeg" }) }) });
      halt("Face enrolled; the camera is off.");
      canvas.hidden = false; // the frame that was sent stays in view
      video.hidden = true;
      showOk(result, `Enrolled from the webcam (face ${answer.detection.quality.size_px} px, ` +
        `detection score ${answer.detection.detection_score.toFixed(3)}).`);
      await onEnrolled();
    } catch (error) {
      halt("The camera is off.");
      showError(result, error);
    }
  }

  async function check() {
    if (!stream) return;
    if (video.videoWidth) {
      const blob = await frameBlob(video, canvas);
      try {
        const found = await api("/v1/detect", { method: "POST", form: photoForm({ image: blob }) });
        if (!stream) return;
        outline(found.faces.length === 1 ? found.faces[0].box : null);
        const todo = advice(found.faces, found.image.width, found.image.height);
        if (todo === null) { hint.textContent = "Hold still: enrolling…"; await enrol(blob); return; }
        hint.textContent = todo;
      } catch (error) {
        hint.textContent = `${error.code}: ${error.message}`;
      }
    }
    if (stream) timer = setTimeout(check, EVERY_MS);
  }

  start.addEventListener("click", async () => {
    clear(result);
    start.disabled = true;
    canvas.hidden = true;
    video.hidden = false;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (error) {
      halt("The camera is off.");
      showError(result, { code: "CAMERA_UNAVAILABLE", message: `The browser gave no camera: ${error.message}` });
      return;
    }
    video.srcObject = stream;
    await video.play();
    stop.disabled = false;
    hint.textContent = "Looking for your face…";
    check();
  });
  stop.addEventListener("click", () => halt());
  window.addEventListener("pagehide", () => halt());
}
