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

// The header's menu button (narrow screens): open and close the navigation.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.menu-toggle");
  if (!button) return;
  const open = button.closest(".top").classList.toggle("open");
  button.setAttribute("aria-expanded", String(open));
});

// Escape closes the open menu and gives the focus back to its button.
document.addEventListener("keydown", (event) => {
  const top = document.querySelector(".top.open");
  if (event.key !== "Escape" || !top) return;
  top.classList.remove("open");
  const button = top.querySelector("button.menu-toggle");
  button.setAttribute("aria-expanded", "false");
  button.focus();
});
