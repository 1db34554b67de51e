// A searchable person select: the search box filters GET /v1/identities by name (first 50).
import { api } from "./api.js";
import { clear, el } from "./dom.js";

export function personPicker(search, select, onError) {
  let asked = 0;
  let timer = 0;
  async function load() {
    const mine = ++asked;
    const params = new URLSearchParams({ limit: 50 });
    if (search.value.trim()) params.set("name", search.value.trim());
    try {
      const page = await api(`/v1/identities?${params}`);
      if (mine !== asked) return;
      const options = page.items.map((p) => el("option", { value: p.id },
        `${p.name} (${p.face_count} face${p.face_count === 1 ? "" : "s"})`));
      clear(select).append(...(options.length ? options
        : [el("option", { value: "" }, search.value ? "Nobody by that name" : "Nobody enrolled yet")]));
    } catch (error) { onError(error); }
  }
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 200); });
  load();
}
