// Bulk import: a zip (or folders, zipped here) to POST /v1/imports, a progress bar fed by
// polling GET /v1/imports/{id}, then the per-file report and its CSV.
import { api } from "./api.js";
import { clear, el, progressBar, showError, showOk } from "./dom.js";
import { storeZip } from "./zip.js";

const POLL_MS = 500;
const IMAGES = /\.(jpe?g|png|webp|bmp|gif)$/i;
const form = document.getElementById("import-form");
const zipInput = document.getElementById("zip");
const folderInput = document.getElementById("folders");
const chosen = document.getElementById("chosen");
const result = document.getElementById("import-result");
let folderFiles = [];

function describe() {
  const zip = zipInput.files[0];
  if (zip) chosen.textContent = `Zip: ${zip.name} (${Math.ceil(zip.size / 1024)} KiB).`;
  else if (folderFiles.length) {
    const folders = new Set(folderFiles.map((f) => f.webkitRelativePath.split("/")[0]));
    chosen.textContent = `${folderFiles.length} photos from ${[...folders].join(", ")}.`;
  } else chosen.textContent = "Nothing chosen yet.";
}

zipInput.addEventListener("change", () => { folderFiles = []; describe(); });
folderInput.addEventListener("change", () => {
  zipInput.value = "";
  const seen = new Set(folderFiles.map((f) => f.webkitRelativePath));
  for (const file of folderInput.files) {
    if (IMAGES.test(file.name) && !seen.has(file.webkitRelativePath)) folderFiles.push(file);
  }
  folderInput.value = "";
  describe();
});
document.getElementById("clear-choice").addEventListener("click", () => {
  zipInput.value = ""; folderFiles = []; describe(); clear(result);
});

async function archive() {
  if (zipInput.files[0]) return zipInput.files[0];
  if (!folderFiles.length) return null;
  const blob = await storeZip(folderFiles.map((file) => ({ name: file.webkitRelativePath, file })));
  return new File([blob], "folders.zip", { type: "application/zip" });
}

function report(job) {
  const c = job.counts;
  document.getElementById("job-counts").textContent =
    `${c.enrolled} enrolled, ${c.duplicate} already enrolled, ${c.refused} refused, of ${c.total} files.`;
  document.getElementById("job-csv").href = `/v1/imports/${encodeURIComponent(job.id)}/report.csv`;
  const rows = (job.report || []).map((r) => el("tr", {},
    el("td", {}, r.file), el("td", {}, r.identity_id
      ? el("a", { href: `/ui/people/${encodeURIComponent(r.identity_id)}` }, r.person) : r.person),
    el("td", { class: `outcome-${r.outcome === "enrolled" ? "enrolled"
      : r.outcome === "DUPLICATE_FACE" ? "duplicate" : "refused"}` }, r.outcome),
    el("td", {}, r.message)));
  clear(document.querySelector("#report tbody")).append(...rows);
  document.getElementById("job-report").hidden = false;
}

async function follow(job) {
  document.getElementById("job").hidden = false;
  document.getElementById("job-report").hidden = true;
  const status = document.getElementById("job-status");
  const move = progressBar(document.getElementById("job-progress"), "Import progress");
  showOk(result, "Uploaded; the server is importing the photos.");
  for (;;) {
    move(job.done, job.total);
    status.textContent = `Import ${job.status}: ${job.done} of ${job.total} files.`;
    if (!["queued", "running", "cancelling"].includes(job.status)) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await api(`/v1/imports/${encodeURIComponent(job.id)}`);
  }
  if (job.error) showError(result, job.error);
  else showOk(result, `Import ${job.status}.`);
  report(job);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const start = document.getElementById("start");
  start.disabled = true;
  try {
    const file = await archive();
    if (!file) {
      showError(result, { code: "NOTHING_CHOSEN", message: "Choose a zip or folders of photos first." });
      return;
    }
    const body = new FormData();
    body.append("archive", file, file.name);
    body.append("create_missing", String(document.getElementById("create-missing").checked));
    showOk(result, "Uploading…");
    await follow(await api("/v1/imports", { method: "POST", form: body }));
  } catch (error) {
    showError(result, error);
  } finally {
    start.disabled = false;
  }
});
