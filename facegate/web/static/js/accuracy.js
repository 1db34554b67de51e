// Accuracy: a calibration job on an uploaded labelled zip (or pairs CSV + images), polled to
// the end; the recommended threshold with FMR/FNMR and their intervals against the current
// threshold (GET /v1/config); the ROC/DET plots and histograms the API serves as PNG; apply.
import { api } from "./api.js";
import { clear, confirmAction, el, progressBar, showError, showOk } from "./dom.js";

const form = document.getElementById("calibrate-form");
const pairsField = document.getElementById("pairs-field");
const runButton = document.getElementById("run");
const result = document.getElementById("cal-result");
const report = document.getElementById("cal-report");
const factsTarget = document.getElementById("cal-facts");
const plots = document.getElementById("plots");
const applyButton = document.getElementById("apply");
const applyResult = document.getElementById("apply-result");
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
let config = null;
let job = null;

const rate = (x) => (typeof x === "number" ? `${(100 * x).toPrecision(3)}%` : "—");
const interval = (pair) => (Array.isArray(pair) ? ` (95%: ${rate(pair[0])} – ${rate(pair[1])})` : "");
const dist = (x) => (typeof x === "number" ? x.toFixed(4) : "—");

async function loadConfig() {
  try {
    config = await api("/v1/config");
    const m = config.matching;
    document.getElementById("current-threshold").textContent = `threshold ${dist(m.threshold)} (${m.threshold_source}).`;
  } catch (error) {
    showError(result, error);
  }
}

function calibrationOf(data) {
  return data.calibration || data.result || data;
}

function show(data) {
  const c = calibrationOf(data);
  const current = config ? config.matching.threshold : null;
  const rows = [["Threshold", dist(c.threshold)], ["Target false-match rate", rate(c.target_fmr)],
    ["False-match rate", rate(c.fmr) + interval(c.fmr_interval)],
    ["False non-match rate", rate(c.fnmr) + interval(c.fnmr_interval)],
    ["Pairs", `${c.genuine_pairs} genuine, ${c.impostor_pairs} impostor, ${c.pairs_without_face || 0} without a face`]];
  if (current !== null && typeof c.threshold === "number") {
    const change = c.threshold - current;
    rows.push(["Against the current", `${dist(current)} now: ${change === 0 ? "no change"
      : change < 0 ? `stricter by ${dist(-change)}: fewer false matches, more people not recognised`
        : `looser by ${dist(change)}: more people recognised, more false matches`}`]);
  }
  const changes = data.changes || c.changes;
  if (changes && typeof changes === "object") {
    for (const [k, v] of Object.entries(changes)) rows.push([k.replaceAll("_", " "), typeof v === "number" && v <= 1 ? rate(v) : String(v)]);
  }
  clear(factsTarget).append(el("dl", { class: "facts scores" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
  if (c.warning) factsTarget.append(el("p", { class: "warn" }, c.warning));
  const images = data.plots || {};
  clear(plots).append(...Object.entries(images).map(([name, url]) =>
    el("figure", {}, el("img", { src: url, alt: `${name.replaceAll("_", " ")} plot`, loading: "lazy" }),
      el("figcaption", {}, name.replaceAll("_", " ")))));
  report.hidden = false;
}

async function follow(started) {
  job = started;
  const set = progressBar(document.getElementById("cal-progress"), "Calibration progress");
  while (true) {
    const { done = 0, total = 0 } = job.progress || {};
    set(job.status === "succeeded" ? Math.max(total, 1) : done, job.status === "succeeded" ? Math.max(total, 1) : total);
    if (FINISHED.has(job.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
    try {
      job = await api(`/v1/calibrate/${encodeURIComponent(job.id)}`);
    } catch (error) {
      showError(result, error);
      runButton.disabled = false;
      return;
    }
  }
  runButton.disabled = false;
  if (job.status === "succeeded") { showOk(result, "Calibration finished."); show(job); }
  else if (job.error) showError(result, job.error);
  else showOk(result, `Calibration ${job.status}.`);
}

form.addEventListener("change", () => {
  pairsField.hidden = form.source.value !== "pairs";
  form.pairs.required = form.source.value === "pairs";
});
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = new FormData();
  const archive = form.archive.files[0];
  body.append("archive", archive, archive.name);
  if (form.source.value === "pairs") body.append("pairs", form.pairs.files[0], form.pairs.files[0].name);
  body.append("target_fmr", form.target_fmr.value);
  runButton.disabled = true;
  report.hidden = true;
  clear(result);
  try {
    follow(await api("/v1/calibrate", { method: "POST", form: body }));
  } catch (error) {
    runButton.disabled = false;
    showError(result, error);
  }
});

if (applyButton) {
  applyButton.addEventListener("click", async () => {
    if (!job) return;
    const c = calibrationOf(job);
    const sure = await confirmAction("Apply this threshold?",
      `Identify and verify use ${dist(c.threshold)} from now on, on every replica, instead of ` +
      `${config ? dist(config.matching.threshold) : "the current threshold"}.`, "Apply");
    if (!sure) return;
    try {
      await api(`/v1/calibrate/${encodeURIComponent(job.id)}/apply`, { method: "POST" });
      await loadConfig();
      showOk(applyResult, `The threshold is now ${dist(config.matching.threshold)} (${config.matching.threshold_source}).`);
    } catch (error) {
      showError(applyResult, error);
    }
  });
}

loadConfig();
