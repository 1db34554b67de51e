// A person's page: details, edit, export, delete (showing the erasure receipt), every
// enrolled face; enrol by upload or webcam.
import { api } from "./api.js";
import { clear, confirmAction, el, showError, showOk, timeEl } from "./dom.js";
import { setupUpload } from "./enrol_upload.js";
import { setupWebcam } from "./enrol_webcam.js";

const root = document.getElementById("person");
const id = root.dataset.identityId;
const mayEnrol = root.dataset.mayEnrol === "yes";
const base = `/v1/identities/${encodeURIComponent(id)}`;
const notice = document.getElementById("notice");
const faces = document.getElementById("faces");
let person = null;

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function fill(found) {
  person = found;
  document.title = `${found.name} · facegate`;
  document.getElementById("person-name").textContent = found.name;
  document.getElementById("fact-name").textContent = found.name;
  document.getElementById("fact-external").textContent = found.external_id || "—";
  document.getElementById("fact-faces").textContent = String(found.face_count);
  clear(document.getElementById("fact-created")).append(timeEl(found.created_at));
  clear(document.getElementById("fact-updated")).append(timeEl(found.updated_at));
  const consent = clear(document.getElementById("fact-consent"));
  if (found.consent) {
    consent.append(found.consent.purpose, " (given ", timeEl(found.consent.given_at),
      found.consent.reference ? `, ${found.consent.reference})` : ")");
  } else consent.append("not recorded");
  const expires = clear(document.getElementById("fact-expires"));
  if (found.expires_at) expires.append(timeEl(found.expires_at), " (then erased by retention)");
  else expires.append("never (until deleted)");
  const view = document.getElementById("metadata-view");
  if (view) view.textContent = JSON.stringify(found.metadata, null, 2);
  const form = document.getElementById("edit");
  if (form) {
    form.name.value = found.name;
    form.external_id.value = found.external_id || "";
    form.metadata.value = JSON.stringify(found.metadata, null, 2);
  }
}

function chip(face) {
  const picture = face.chip_url
    ? el("img", { src: face.chip_url, alt: `Face of ${person.name}`, width: 150, height: 150 })
    : el("span", { class: "no-face" }, "descriptor only");
  const score = face.detection_score === null ? "—" : face.detection_score.toFixed(3);
  const remove = mayEnrol && el("button", { type: "button", class: "quiet small delete-face",
    onclick: () => deleteFace(face) }, "Delete face");
  return el("li", { class: "chip", dataset: { faceId: face.id } },
    el("div", { class: "thumb" }, picture),
    el("span", { class: "small" }, `Detection score ${score}`),
    el("span", { class: "small muted" }, "Enrolled ", timeEl(face.created_at)), remove);
}

async function loadFaces() {
  const list = await api(`${base}/faces`);
  clear(faces).append(...list.items.map(chip));
  document.getElementById("faces-empty").hidden = list.items.length > 0;
}

export async function reload() {
  try {
    fill(await api(base));
    await loadFaces();
  } catch (error) {
    showError(notice, error);
  }
}

async function deleteFace(face) {
  const sure = await confirmAction("Delete this face?",
    `This erases this face of ${person.name}: its chip and its descriptor, and removes it from ` +
    "trained classifiers. It cannot be undone.", "Delete face");
  if (!sure) return;
  try {
    await api(`${base}/faces/${encodeURIComponent(face.id)}`, { method: "DELETE" });
    showOk(notice, "Face deleted.");
    await reload();
  } catch (error) {
    showError(notice, error);
  }
}

async function deletePerson() {
  const n = person.face_count;
  const sure = await confirmAction(`Delete ${person.name}?`,
    `This erases the person ${person.name} and their ${plural(n, "face")}, with those faces' ` +
    "chips and descriptors (also from trained classifiers). It cannot be undone.",
    "Delete person");
  if (!sure) return;
  try {
    const answer = await api(base, { method: "DELETE" });
    showReceipt(answer.receipt);
  } catch (error) {
    showError(notice, error);
  }
}

const RECEIPT = [["identity_id", "Identity id"], ["samples", "Face samples"], ["chips", "Face chips"],
  ["negative_anchors", "Negative anchors"], ["review_items", "Review queue items"],
  ["outbox_events", "Outbox events"], ["kept_probes", "Kept probes"]];

function showReceipt(receipt) {
  const facts = clear(document.getElementById("receipt-facts"));
  for (const [key, label] of RECEIPT) facts.append(el("dt", {}, label), el("dd", {}, String(receipt[key])));
  const actor = receipt.actor.name || receipt.actor.kind;
  facts.append(el("dt", {}, "Erased"), el("dd", {}, timeEl(receipt.erased_at)),
    el("dt", {}, "By"), el("dd", {}, actor));
  root.hidden = true;
  clear(notice);
  document.getElementById("receipt").hidden = false;
  document.getElementById("person-name").textContent = "Erased";
  document.title = "Erased · facegate";
}

async function exportPerson() {
  try {
    const url = URL.createObjectURL(await api(`${base}/export`));
    const link = el("a", { href: url, download: `person-${id}.zip` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    showOk(notice, "Export downloaded.");
  } catch (error) {
    showError(notice, error);
  }
}

function parseMetadata(text, result) {
  let metadata;
  try {
    metadata = text.trim() ? JSON.parse(text) : {};
  } catch (error) {
    showError(result, { code: "INVALID_JSON", message: `Metadata is not valid JSON: ${error.message}` });
    return null;
  }
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    showError(result, { code: "INVALID_JSON", message: "Metadata must be a JSON object, e.g. {\"team\": \"blue\"}." });
    return null;
  }
  return metadata;
}

async function save(event) {
  event.preventDefault();
  const form = event.target;
  const result = document.getElementById("edit-result");
  const metadata = parseMetadata(form.metadata.value, result);
  if (metadata === null) { form.metadata.focus(); return; }
  try {
    fill(await api(base, { method: "PATCH", json: {
      name: form.name.value.trim(), external_id: form.external_id.value.trim() || null, metadata } }));
    showOk(result, "Saved.");
  } catch (error) {
    showError(result, error);
  }
}

if (mayEnrol) {
  document.getElementById("edit").addEventListener("submit", save);
  document.getElementById("delete-person").addEventListener("click", deletePerson);
  document.getElementById("export-person").addEventListener("click", exportPerson);
  setupUpload(base, reload);
  setupWebcam(base, reload);
}
reload();
