// Recording a frame sequence from a playing <video>: JPEG Blobs of at most maxSide pixels at
// about `fps` (each new camera frame is taken once its turn has come), and the rate actually
// reached, which the server needs to time blinks.
import * as camera from "./camera.js";

const nextFrame = (video) => new Promise((resolve) => {
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => resolve());
  else setTimeout(resolve, 16);
});

export async function record(video, { seconds, fps = 15, maxSide = 480, onTick = () => {} }) {
  const frames = [];
  const times = [];
  const step = 1000 / fps;
  const began = performance.now();
  let due = began;
  for (;;) {
    await nextFrame(video);
    const now = performance.now();
    const elapsed = now - began;
    onTick(Math.min(elapsed, seconds * 1000));
    if (elapsed >= seconds * 1000) break;
    if (now + 4 < due) continue;
    due = Math.max(due + step, now - step / 2);
    times.push(now);
    frames.push(camera.frame(video, { maxSide, quality: 0.9 }));
  }
  const blobs = await Promise.all(frames);
  const span = (times[times.length - 1] - times[0]) / 1000;
  const rate = blobs.length > 1 && span > 0 ? (blobs.length - 1) / span : fps;
  return { frames: blobs, fps: Math.round(rate * 100) / 100 };
}

// The frames as the liveness routes take them: repeated `frames` parts, the rate, more fields.
export function sequenceForm(recording, extra = {}) {
  const form = new FormData();
  recording.frames.forEach((blob, i) => form.append("frames", blob, `frame_${String(i).padStart(4, "0")}.jpg`));
  form.append("fps", String(recording.fps));
  for (const [name, value] of Object.entries(extra)) if (value) form.append(name, String(value));
  return form;
}
