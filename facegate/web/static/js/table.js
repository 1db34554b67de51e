// Tables that turn into stacked cards on a phone: each cell carries its column's heading
// in data-label (console.css shows it before the value under 40rem).
export function labelCells(table) {
  const headings = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  for (const row of table.querySelectorAll("tbody tr")) {
    [...row.children].forEach((cell, i) => { if (headings[i]) cell.dataset.label = headings[i]; });
  }
}
