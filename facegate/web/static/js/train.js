// Train & models: start a training job (the gallery, or a zip enrolled first), follow it by
// polling GET /v1/train/{id}, cancel it, read its cross-validated scores; then the
// classifiers of /v1/models: activate, deactivate, delete.
import { api } from "./api.js";
import { labelCells } from "./table.js";
import { clear, confirmAction, el, progressBar, showError, showOk, timeEl } from "./dom.js";

const form = document.getElementById("train-form");
const zipField = document.getElementById("zip-field");
const startButton = document.getElementById("start");
const cancelButton = document.getElementById("cancel");
const progressTarget = document.getElementById("job-progress");
const jobTarget = document.getElementById("job");
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const STAGES = { enrolling: "enrolling the photos", validating: "cross-validating", done: "done" };
let current = null;
let setProgress = null;

const pct = (x) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(1)}%`);
const params = (p) => Object.entries(p || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "defaults";

function scores(model) {
  const m = model.metrics || {};
  const rows = [["Accuracy (held out)", `${pct(m.accuracy)}${m.accuracy_std !== undefined ? ` ± ${pct(m.accuracy_std)}` : ""}`],
    ["Nearest face, same folds", pct(m.nearest_sample_accuracy)], ["Folds", m.folds], ["Held-out faces", m.held_out],
    ["Parameters", params(model.params)], ["People / faces", `${model.identities} / ${model.samples}`]];
  const list = el("dl", { class: "facts scores" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v ?? "—"))]));
  if (!m.grid) return list;
  const grid = el("table", { class: "scores" }, el("thead", {}, el("tr", {}, el("th", {}, "Parameters"), el("th", {}, "Accuracy"))),
    el("tbody", {}, m.grid.map((g) => el("tr", {}, el("td", {}, params(g.params)), el("td", {}, pct(g.accuracy))))));
  return el("div", {}, list, el("h3", {}, "Grid search"), el("div", { class: "table-wrap" }, grid));
}

function report(job) {
  const photos = job.photos || {};
  const parts = [el("p", {}, el("strong", {}, `Job ${job.status}`), ` · ${STAGES[job.stage] || job.stage || ""}`)];
  if (photos.total) {
    parts.push(el("p", { class: "small" }, `Photos: ${photos.total}, enrolled ${photos.enrolled || 0}, ` +
      `already enrolled ${photos.duplicate || 0}, refused ${photos.refused || 0}.`));
  }
  if (job.refusals && job.refusals.length) {
    parts.push(el("div", { class: "table-wrap" }, el("table", { "aria-label": "Refused photos" },
      el("thead", {}, el("tr", {}, el("th", {}, "Photo"), el("th", {}, "Person"), el("th", {}, "Why"))),
      el("tbody", {}, job.refusals.map((r) => el("tr", {}, el("td", {}, r.source), el("td", {}, r.person || ""),
        el("td", {}, el("code", {}, r.code), " ", r.message)))))));
  }
  if (job.error) parts.push(el("p", { class: "error", role: "alert" }, el("code", {}, job.error.code), " ", job.error.message));
  if (job.model) {
    parts.push(el("h3", {}, `Classifier ${job.model.id}`), scores(job.model),
      el("p", { class: "small" }, job.model.active ? "It is active: identify uses it now." : "It is stored, not active: activate it below."));
  }
  clear(jobTarget).append(...parts);
}

function running(on) {
  startButton.disabled = on;
  cancelButton.hidden = !on;
}

async function follow(job) {
  current = job;
  if (!setProgress) setProgress = progressBar(progressTarget, "Training progress");
  while (current && current.id === job.id) {
    const { done, total } = current.progress || { done: 0, total: 0 };
    if (current.status === "succeeded") setProgress(Math.max(total, 1), Math.max(total, 1));
    else setProgress(done, total);
    report(current);
    if (FINISHED.has(current.status)) break;
    running(true);
    await new Promise((resolve) => setTimeout(resolve, 500));
    try {
      current = await api(`/v1/train/${encodeURIComponent(job.id)}`);
    } catch (error) {
      showError(jobTarget, error);
      break;
    }
  }
  running(false);
  loadModels();
}

form.addEventListener("change", () => { zipField.hidden = form.source.value !== "zip"; });
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const options = { kind: form.kind.value, folds: Number(form.folds.value), tune: form.tune.checked,
    activate: form.activate.checked };
  let request;
  if (form.source.value === "zip") {
    const file = form.archive.files[0];
    if (!file) { showError(jobTarget, { code: "NO_FILE", message: "Choose a zip of photos first." }); return; }
    const body = new FormData();
    body.append("archive", file, file.name);
    for (const [k, v] of Object.entries(options)) body.append(k, String(v));
    if (form.multiple_faces.value) body.append("multiple_faces", form.multiple_faces.value);
    request = { method: "POST", form: body };
  } else {
    request = { method: "POST", json: options };
  }
  running(true);
  setProgress = null;
  clear(modelsResult);
  try {
    follow(await api("/v1/train", request));
  } catch (error) {
    running(false);
    showError(jobTarget, error);
  }
});

cancelButton.addEventListener("click", async () => {
  if (!current) return;
  try {
    current = await api(`/v1/train/${encodeURIComponent(current.id)}`, { method: "DELETE" });
    report(current);
  } catch (error) {
    showError(jobTarget, error);
  }
});

// --- classifiers ---------------------------------------------------------------------------
const modelsBody = document.querySelector("#models tbody");
const modelsEmpty = document.getElementById("models-empty");
const modelsResult = document.getElementById("models-result");
const modelsNote = document.getElementById("models-note");
const deactivate = document.getElementById("deactivate");

async function modelAction(path, method, said) {
  try {
    await api(path, { method });
    showOk(modelsResult, said);
  } catch (error) {
    showError(modelsResult, error);
  }
  loadModels();
}

function modelRow(model) {
  const m = model.metrics || {};
  const buttons = [];
  if (!model.active) {
    const on = el("button", { type: "button", class: "small-button" }, "Activate");
    on.addEventListener("click", () => modelAction(`/v1/models/${encodeURIComponent(model.id)}/activate`, "POST",
      `${model.id} is active: identify ranks people with it.`));
    buttons.push(on);
  }
  const remove = el("button", { type: "button", class: "danger small-button" }, "Delete");
  remove.addEventListener("click", async () => {
    const sure = await confirmAction(`Delete classifier ${model.id}?`, model.active
      ? "It is active: identify goes back to ranking by the nearest face. The people and their faces stay."
      : "The people and their faces stay; only this fitted classifier is erased.");
    if (sure) modelAction(`/v1/models/${encodeURIComponent(model.id)}`, "DELETE", `${model.id} was deleted.`);
  });
  buttons.push(remove);
  return el("tr", { dataset: { model: model.id } },
    el("td", {}, el("code", {}, model.id), el("br"), el("span", { class: "muted small" }, model.kind)),
    el("td", { class: "small" }, params(model.params)),
    el("td", { class: "scores" }, pct(m.accuracy), m.nearest_sample_accuracy !== undefined
      ? el("span", { class: "muted small" }, ` (nearest face ${pct(m.nearest_sample_accuracy)})`) : null),
    el("td", {}, `${model.identities} / ${model.samples}`),
    el("td", {}, timeEl(model.created_at)),
    el("td", {}, model.active ? el("span", { class: "pill on" }, "active") : el("span", { class: "muted" }, "stored"),
      model.changed_since_fit ? el("span", { class: "pill mid", title: "people or faces were deleted since" }, " changed since fit") : null),
    el("td", {}, el("div", { class: "row-actions" }, buttons)));
}

async function loadModels() {
  try {
    const list = await api("/v1/models");
    clear(modelsBody).append(...list.items.map(modelRow));
    labelCells(document.getElementById("models"));
    document.getElementById("models").parentElement.hidden = list.items.length === 0;
    modelsEmpty.hidden = list.items.length > 0;
    deactivate.hidden = !list.items.some((m) => m.active);
    modelsNote.textContent = list.used_by_identify ? ""
      : "This server is configured not to use classifiers in identify (FACEGATE_MATCHING__CLASSIFIER).";
  } catch (error) {
    showError(modelsResult, error);
  }
}

deactivate.addEventListener("click", () => modelAction("/v1/models/deactivate", "POST",
  "No classifier is active: identify ranks people by the nearest face."));

async function resume() {
  try {
    const jobs = await api("/v1/train");
    const active = jobs.items.find((job) => !FINISHED.has(job.status));
    if (active) follow(active);
  } catch (error) {
    showError(jobTarget, error);
  }
}

resume();
loadModels();
