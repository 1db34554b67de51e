// Accuracy: a zip of per-person folders to POST /v1/calibrate, a progress bar fed by polling
// GET /v1/calibrate/{id}, then the recommended threshold with its rates, what the current one
// gives, the plots, and applying it (POST /v1/calibrate/{id}/apply).
import { api } from "./api.js";
import { clear, confirmAction, el, progressBar, showError, showOk } from "./dom.js";

const POLL_MS = 500;
const ACTIVE = ["queued", "running", "cancelling"];
const TITLES = { roc: "ROC", det: "DET", histogram: "Distance histogram" };
const form = document.getElementById("calibrate-form");
const result = document.getElementById("calibrate-result");
const applyButton = document.getElementById("apply");
const applyResult = document.getElementById("apply-result");
let current = null;

const pct = (value) => `${(100 * value).toFixed(2)}%`;
const range = ([low, high]) => `95% CI ${pct(low)} – ${pct(high)}`;

function fact(term, ...value) {
  return [el("dt", {}, term), el("dd", {}, ...value)];
}

function facts(r) {
  const same = r.threshold === r.current_threshold;
  const direction = same ? "no change" : r.threshold < r.current_threshold
    ? "stricter (fewer false matches, possibly more missed ones)"
    : "looser (more matches, possibly more false ones)";
  clear(document.getElementById("facts")).append(
    ...fact("Recommended threshold", el("strong", { id: "threshold" }, r.threshold.toFixed(4)),
      ` for a false-match rate ≤ ${r.target_fmr}`),
    ...fact("False-match rate (FMR)", `${pct(r.fmr)} (${range(r.fmr_interval)})`),
    ...fact("False non-match rate (FNMR)", `${pct(r.fnmr)} (${range(r.fnmr_interval)})`),
    ...fact("Pairs", `${r.genuine_pairs} same-person, ${r.impostor_pairs} different-person`,
      r.pairs_without_face ? `; ${r.pairs_without_face} left out (a photo had no face)` : ""),
    ...fact("Threshold in use", el("span", { id: "current-threshold" },
      `${r.current_threshold} (${r.current_source})`)),
    ...fact(`At ${r.current_threshold} these pairs give`,
      `FMR ${pct(r.current_fmr)}, FNMR ${pct(r.current_fnmr)}`),
    ...fact("Applying it", el("span", { id: "change" }, `${direction}: FMR ${pct(r.current_fmr)} → ` +
      `${pct(r.fmr)}, FNMR ${pct(r.current_fnmr)} → ${pct(r.fnmr)} on these pairs`)));
  const warning = document.getElementById("warning");
  warning.hidden = !r.warning;
  warning.textContent = r.warning ? `Warning: ${r.warning}` : "";
}

function plots(r) {
  const images = r.plots.map((url) => {
    const name = url.split("/").pop().replace(".png", "");
    return el("figure", { class: "plot" },
      el("img", { src: url, alt: `${TITLES[name] || name} of the calibration`, loading: "lazy" }),
      el("figcaption", {}, TITLES[name] || name));
  });
  clear(document.getElementById("plots")).append(...images);
  document.getElementById("plots-card").hidden = false;
}

async function follow(job) {
  document.getElementById("job").hidden = false;
  document.getElementById("outcome").hidden = true;
  document.getElementById("plots-card").hidden = true;
  clear(applyResult);
  const status = document.getElementById("job-status");
  const move = progressBar(document.getElementById("job-progress"), "Calibration progress");
  showOk(result, "Uploaded; the server is describing the photos.");
  for (;;) {
    move(job.done, job.total);
    status.textContent = `Calibration ${job.status}: ${job.done} of ${job.total} descriptors` +
      (job.status === "running" && job.total > 0 && job.done === job.total
        ? "; choosing the threshold and drawing the plots…" : ".");
    if (!ACTIVE.includes(job.status)) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await api(`/v1/calibrate/${encodeURIComponent(job.id)}`);
  }
  if (job.error || !job.result) {
    showError(result, job.error || { code: job.status.toUpperCase(), message: "No result." });
    return;
  }
  showOk(result, "Calibration finished.");
  current = job;
  facts(job.result);
  applyButton.disabled = false;
  document.getElementById("outcome").hidden = false;
  plots(job.result);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const start = document.getElementById("start");
  const file = document.getElementById("zip").files[0];
  if (!file) {
    showError(result, { code: "NOTHING_CHOSEN", message: "Choose a zip of per-person folders first." });
    return;
  }
  start.disabled = true;
  try {
    const body = new FormData();
    body.append("archive", file, file.name);
    body.append("target_fmr", document.getElementById("target-fmr").value);
    showOk(result, "Uploading…");
    await follow(await api("/v1/calibrate", { method: "POST", form: body }));
  } catch (error) {
    showError(result, error);
  } finally {
    start.disabled = false;
  }
});

applyButton.addEventListener("click", async () => {
  if (!current) return;
  const r = current.result;
  const sure = await confirmAction("Apply this threshold?",
    `Identify and verify on this server will hold faces to ${r.threshold.toFixed(4)} instead of ` +
    `${r.current_threshold} (${r.current_source}) from now on; it is stored in the data folder's ` +
    "calibration.json, which other replicas read at their next start.", "Apply");
  if (!sure) return;
  applyButton.disabled = true;
  try {
    const applied = await api(`/v1/calibrate/${encodeURIComponent(current.id)}/apply`, { method: "POST" });
    document.getElementById("current-threshold").textContent =
      `${applied.threshold} (${applied.threshold_source})`;
    document.getElementById("change").textContent = "applied";
    showOk(applyResult, el("span", { id: "applied" },
      `Applied: the threshold is now ${applied.threshold} (source: ${applied.threshold_source}), `,
      `was ${applied.previous_threshold} (${applied.previous_source}). Other replicas use it at their next start.`));
  } catch (error) {
    applyButton.disabled = false;
    showError(applyResult, error);
  }
});
