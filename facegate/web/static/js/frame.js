// The frame around every page: the phone menu, sign-out, and dates in the browser's locale.
import { api } from "./api.js";
import { localDate } from "./dom.js";

const toggle = document.querySelector(".menu-toggle");
if (toggle) {
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("menu-open", open);
  });
}

const signOut = document.getElementById("sign-out");
if (signOut) {
  signOut.addEventListener("click", async () => {
    try { await api("/v1/auth/logout", { method: "POST" }); } finally { location.assign("/ui/login"); }
  });
}

for (const node of document.querySelectorAll("time[datetime]")) node.textContent = localDate(node.dateTime);
