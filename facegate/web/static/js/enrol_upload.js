// Add faces by upload: several photos (file picker or drag and drop), each POSTed to
// /v1/identities/{id}/faces in turn, with a result row per file (the API's code and message
// when it refuses one).
import { api, photoForm } from "./api.js";
import { el } from "./dom.js";

function quality(answer) {
  const d = answer.detection;
  if (!d) return "";
  const q = d.quality;
  return `quality: face ${q.size_px} px · sharpness ${q.sharpness.toFixed(0)} · brightness ` +
    `${q.brightness.toFixed(0)} · detection score ${d.detection_score.toFixed(2)}`;
}

function row(file) {
  const outcome = el("td", {}, "waiting…");
  const details = el("td", {});
  const tr = el("tr", { class: "pending" }, el("td", {}, file.name), outcome, details);
  return { tr, set(kind, text, more) {
    tr.className = kind;
    outcome.textContent = "";
    outcome.append(kind === "refused" ? el("code", {}, text) : text);
    details.textContent = more || "";
  } };
}

async function enrol(base, file, line) {
  line.set("pending", "enrolling…");
  try {
    const answer = await api(`${base}/faces`, { method: "POST", form: photoForm({ image: file }) });
    const warnings = answer.warnings || [];
    if (warnings.length) {
      line.set("warned", "enrolled, but check it", warnings.map((w) => `${w.code}: ${w.message}`).join(" · "));
    } else {
      line.set("enrolled", "enrolled", quality(answer));
    }
  } catch (error) {
    line.set("refused", error.code, error.message);
  }
}

export function setupUpload(base, onEnrolled) {
  const input = document.getElementById("photos");
  const zone = document.getElementById("drop");
  const wrap = document.getElementById("upload-wrap");
  const body = document.querySelector("#upload-results tbody");
  let queue = Promise.resolve();

  function add(files) {
    const photos = [...files];
    if (!photos.length) return;
    wrap.hidden = false;
    const lines = photos.map((file) => { const line = row(file); body.append(line.tr); return line; });
    // one after another (the server's pipeline is the bottleneck; results stay in order)
    queue = queue.then(async () => {
      for (const [i, file] of photos.entries()) {
        await enrol(base, file, lines[i]);
        await onEnrolled();
      }
    });
  }

  input.addEventListener("change", () => { add(input.files); input.value = ""; });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    add(event.dataTransfer.files);
  });
}
