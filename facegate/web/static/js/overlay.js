// Boxes and labels of /v1/identify's faces on a canvas, for the test bench and live mode.
// A face is labelled with its name and distance (≤ threshold), or "unknown" with the nearest
// candidate and its distance (> threshold).

const KNOWN = "#1e9e45";
const UNKNOWN = "#e0a100";

export function fmt(value, digits = 3) {
  return typeof value === "number" ? value.toFixed(digits) : "–";
}

// The distance the decision was held against the threshold (cohort-adjusted when given).
export function decisive(face) {
  if (typeof face.adjusted_distance === "number") return face.adjusted_distance;
  const best = face.identity || (face.candidates || [])[0];
  return best ? best.distance : null;
}

export function faceLabel(face) {
  const nearest = (face.candidates || [])[0];
  const threshold = fmt(face.threshold, 2);
  if (face.status === "identified" && face.identity) {
    const detail = `${fmt(decisive(face))} ≤ ${threshold}`;
    return { known: true, name: face.identity.name, head: face.identity.name, detail,
      text: `${face.identity.name} ${detail}` };
  }
  const detail = nearest ? `nearest ${nearest.name} ${fmt(decisive(face))} > ${threshold}` : "nobody enrolled";
  return { known: false, name: "unknown", head: "unknown", detail, text: `unknown · ${detail}` };
}

// Draw every face's box and a two-line label (number and name; distance and threshold) sized
// to the box; scale maps the API's pixel coordinates to the canvas's.
export function drawFaces(ctx, faces, scale = 1) {
  const side = Math.max(ctx.canvas.width, ctx.canvas.height);
  const line = Math.max(2, Math.round(side / 400));
  faces.forEach((face, i) => {
    const { known, head, detail } = faceLabel(face);
    const box = face.box;
    const x = box.left * scale;
    const y = box.top * scale;
    const w = (box.right - box.left) * scale;
    const h = (box.bottom - box.top) * scale;
    const size = Math.round(Math.max(11, Math.min(side / 50, w / 6.5)));
    ctx.font = `600 ${size}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.lineWidth = line;
    ctx.strokeStyle = known ? KNOWN : UNKNOWN;
    ctx.strokeRect(x, y, w, h);
    const texts = [`${i + 1}. ${head}`, detail];
    const width = Math.min(Math.max(...texts.map((t) => ctx.measureText(t).width)) + 8, ctx.canvas.width);
    const pad = 2 * size + 8;
    const ty = y - pad >= 0 ? y - pad : Math.min(y + h, ctx.canvas.height - pad);
    const tx = Math.max(0, Math.min(x, ctx.canvas.width - width));
    ctx.fillStyle = known ? KNOWN : UNKNOWN;
    ctx.globalAlpha = 0.9;
    ctx.fillRect(tx, ty, width, pad);
    ctx.globalAlpha = 1;
    ctx.fillStyle = known ? "#fff" : "#1b1f24";
    texts.forEach((t, n) => ctx.fillText(t, tx + 4, ty + 3 + n * (size + 2), width - 8));
  });
}
