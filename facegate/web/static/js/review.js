// Review: clusters of unknown faces (GET /v1/review/clusters) in a grid; one opened shows its
// faces and the actions, each sent with the cluster version it was shown at (a group that
// changed meanwhile is refused with REVIEW_CLUSTER_CHANGED and reloaded).
import { api } from "./api.js";
import { clear, confirmAction, el, may, showError, showOk, timeEl } from "./dom.js";
import { personPicker } from "./person_pick.js";

const list = document.getElementById("clusters");
const empty = document.getElementById("clusters-empty");
const off = document.getElementById("review-off");
const count = document.getElementById("review-count");
const status = document.getElementById("review-status");
const panel = document.getElementById("cluster");
const faces = document.getElementById("cluster-faces");
const result = document.getElementById("cluster-result");
const notice = document.getElementById("notice");
let current = null;

const DONE = { name: "Named", assign: "Added", ignore: "Ignored", discard: "Discarded" };
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function chip(url, alt) {
  return el("div", { class: "thumb" }, url ? el("img", { src: url, alt, loading: "lazy" })
    : el("span", { class: "no-face" }, "no face kept"));
}

function card(cluster) {
  const open = el("button", { type: "button", class: "cluster-open", "aria-controls": "cluster",
    onclick: () => show(cluster.id) },
    chip(cluster.chip_url, "Best face of this group"),
    el("span", { class: "name" }, plural(cluster.size, "face")),
    el("span", { class: "muted small" }, `seen ${cluster.seen}× · last `, timeEl(cluster.last_seen)));
  return el("li", { class: "cluster", dataset: { cluster: cluster.id } }, open);
}

async function load() {
  try {
    const page = await api(`/v1/review/clusters?status=${status.value}&limit=100`);
    off.hidden = page.enabled;
    clear(list).append(...page.items.map(card));
    empty.hidden = page.total > 0;
    count.textContent = page.total ? `${plural(page.total, "group")} · kept ${page.retention_days} days` : "";
  } catch (error) {
    showError(notice, error);
  }
}

function faceItem(face) {
  const box = el("input", { type: "checkbox", value: face.id, "aria-label": "Select this face" });
  return el("li", { class: "review-face" }, el("label", {}, chip(face.chip_url, "Unknown face"), box,
    el("span", { class: "muted small" }, timeEl(face.seen_at), face.camera ? ` · ${face.camera}` : "",
      face.identity_id ? " · enrolled" : "")));
}

async function show(clusterId, keepResult = false) {
  try {
    const answer = await api(`/v1/review/clusters/${encodeURIComponent(clusterId)}/faces`);
    current = answer.cluster;
    panel.hidden = false;
    document.getElementById("cluster-title").textContent =
      `Group of ${plural(current.size, "face")} (${current.status})`;
    clear(document.getElementById("cluster-facts")).append(
      `First seen `, timeEl(current.first_seen), `, last seen `, timeEl(current.last_seen),
      `, seen ${current.seen}×.`);
    clear(faces).append(...answer.items.map(faceItem));
    for (const item of list.children) item.classList.toggle("active", item.dataset.cluster === current.id);
    if (!keepResult) clear(result);
    for (const button of panel.querySelectorAll("button, input, select")) {
      button.disabled = current.status === "named" && button.id !== "discard";
    }
    panel.scrollIntoView({ behavior: "smooth", block: "start" });
  } catch (error) {
    showError(result, error);
  }
}

function selected() {
  const ids = [...faces.querySelectorAll("input:checked")].map((box) => box.value);
  return ids.length ? ids : undefined;
}

async function act(action, extra = {}) {
  if (!current) return;
  const body = { version: current.version, face_ids: selected(), ...extra };
  try {
    const done = await api(`/v1/review/clusters/${encodeURIComponent(current.id)}/${action}`,
      { method: "POST", json: body });
    const enrolled = done.enrolled.length ? ` (${plural(done.enrolled.length, "face")} enrolled)` : "";
    const who = done.identity_id
      ? el("a", { href: `/ui/people/${encodeURIComponent(done.identity_id)}` }, "open the person") : "";
    showOk(result, `${DONE[action]}: `, plural(done.faces, "face"), enrolled, who ? " — " : "", who);
    const whole = !body.face_ids || body.face_ids.length === faces.children.length;
    await load();
    if (!whole) await show(current.id, true);
    else if (done.cluster) await show(done.cluster.id, true);
    else { current = null; panel.hidden = true; showOk(notice, `Discarded ${plural(done.faces, "face")}.`); }
  } catch (error) {
    showError(result, error);
    if (error.code === "REVIEW_CLUSTER_CHANGED") show(current.id, true);
  }
}

status.addEventListener("change", () => { panel.hidden = true; current = null; load(); });
document.getElementById("review-reload").addEventListener("click", load);
if (may("enrol") && document.getElementById("name-form")) {
  const nameForm = document.getElementById("name-form");
  nameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    act("name", { name: nameForm.name.value.trim() }).then(() => nameForm.reset());
  });
  const picker = document.getElementById("assign-person");
  personPicker(document.getElementById("assign-search"), picker, (error) => showError(result, error));
  document.getElementById("assign-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (picker.value) act("assign", { identity_id: picker.value });
  });
  document.getElementById("ignore").addEventListener("click", () => act("ignore"));
  document.getElementById("discard").addEventListener("click", async () => {
    const what = selected() ? plural(selected().length, "selected face") : "every face of this group";
    if (await confirmAction("Discard faces?", `This deletes ${what} now.`, "Discard")) act("discard");
  });
}
load();
