// The webcam, for any page: start(video) → the stream playing in that <video>, frame(video)
// → a JPEG Blob of what it shows now, stop() → every track released. Frames stay in memory
// (Blobs); nothing is written to the browser's storage.

let current = null;

export class CameraError extends Error {
  constructor(message) {
    super(message);
    this.code = "CAMERA_UNAVAILABLE";
  }
}

export async function start(video, { width = 640, height = 480 } = {}) {
  stop();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new CameraError("This browser gives no camera to this page (a secure origin is needed).");
  }
  try {
    current = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: width }, height: { ideal: height } }, audio: false });
  } catch (error) {
    throw new CameraError(`The camera could not be opened: ${error.name || "Error"}: ${error.message}`);
  }
  video.muted = true;
  video.playsInline = true;
  video.srcObject = current;
  await video.play();
  if (!video.videoWidth) await new Promise((resolve) => video.addEventListener("resize", resolve, { once: true }));
  return current;
}

export function running() {
  return current !== null && current.getVideoTracks().some((t) => t.readyState === "live");
}

export function stop() {
  if (current) for (const track of current.getTracks()) track.stop();
  current = null;
}

// The video's current picture, scaled so its longer side is at most maxSide.
export function frame(video, { maxSide = 0, quality = 0.92 } = {}) {
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (!w || !h) return Promise.reject(new CameraError("The camera shows no picture yet."));
  const scale = maxSide > 0 ? Math.min(1, maxSide / Math.max(w, h)) : 1;
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(w * scale);
  canvas.height = Math.round(h * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => canvas.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new CameraError("The frame could not be encoded."))),
    "image/jpeg", quality));
}

// Release the camera when the page is left.
window.addEventListener("pagehide", stop);
