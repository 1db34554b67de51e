// People: a paginated, searchable list with each person's face count and a thumbnail.
import { api } from "./api.js";
import { clear, el, showError, showOk } from "./dom.js";

const PAGE = 24;
const list = document.getElementById("people");
const empty = document.getElementById("people-empty");
const info = document.getElementById("page-info");
const prev = document.getElementById("prev");
const next = document.getElementById("next");
const notice = document.getElementById("notice");
let offset = 0;
let query = "";

async function thumbnail(person, figure) {
  if (!person.face_count) { figure.append(el("span", { class: "no-face" }, "no face")); return; }
  try {
    const faces = await api(`/v1/identities/${encodeURIComponent(person.id)}/faces`);
    const first = faces.items.find((face) => face.chip_url);
    if (first) figure.append(el("img", { src: first.chip_url, alt: `Face of ${person.name}`, loading: "lazy" }));
  } catch (error) { /* the card still links to the person */ }
}

function card(person) {
  const figure = el("div", { class: "thumb" });
  thumbnail(person, figure);
  const faces = `${person.face_count} face${person.face_count === 1 ? "" : "s"}`;
  return el("li", { class: "person" },
    el("a", { href: `/ui/people/${encodeURIComponent(person.id)}` }, figure,
      el("span", { class: "name" }, person.name),
      el("span", { class: "muted small" }, faces, person.external_id ? ` · ${person.external_id}` : "")));
}

async function load() {
  const params = new URLSearchParams({ limit: PAGE, offset });
  if (query) params.set("name", query);
  try {
    const page = await api(`/v1/identities?${params}`);
    clear(list).append(...page.items.map(card));
    empty.hidden = page.total > 0 || Boolean(query);
    if (!page.total && query) list.append(el("li", { class: "empty" }, `Nobody's name contains "${query}".`));
    const last = Math.min(offset + page.items.length, page.total);
    info.textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : "";
    prev.disabled = offset === 0;
    next.disabled = last >= page.total;
  } catch (error) {
    showError(notice, error);
  }
}

document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  query = event.target.q.value.trim();
  offset = 0;
  load();
});
prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
next.addEventListener("click", () => { offset += PAGE; load(); });

const create = document.getElementById("create");
if (create) {
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = document.getElementById("create-result");
    try {
      const person = await api("/v1/identities", { method: "POST", json: { name: create.name.value.trim() } });
      showOk(result, "Added ", el("a", { href: `/ui/people/${encodeURIComponent(person.id)}` }, person.name),
        ": open their page to enrol photos.");
      create.reset();
      load();
    } catch (error) {
      showError(result, error);
    }
  });
}

load();
