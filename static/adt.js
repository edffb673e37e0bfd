// The little the pages need beyond htmx.

// "Select all" ticks every row checkbox that belongs to the same form.
document.addEventListener("change", (event) => {
  const box = event.target.closest("input.select-all");
  if (!box) return;
  for (const row of document.querySelectorAll(`input[name="ids"][form="${box.dataset.form}"]`)) {
    row.checked = box.checked;
  }
});

// The live feed only grows; keep the newest 1000 rows so a tab left open for
// days stays light.
document.addEventListener("htmx:afterSwap", () => {
  const rows = document.getElementById("feed-rows");
  if (!rows) return;
  while (rows.children.length > 1000) rows.lastElementChild.remove();
});
