// The admin's search box has only an icon for a label (axe: label-title-only):
// give it a name, without copying Django's search_form.html.
document.addEventListener("DOMContentLoaded", () => {
  const search = document.getElementById("searchbar");
  if (search && !search.hasAttribute("aria-label")) search.setAttribute("aria-label", "Search");
});

// The header's menu button (narrow screens), as on the app's pages: open and
// close the links; Escape closes and gives the focus back to the button.
document.addEventListener("click", (event) => {
  const button = event.target.closest("#header button.menu-toggle");
  if (!button) return;
  const open = document.getElementById("header").classList.toggle("open");
  button.setAttribute("aria-expanded", String(open));
});
document.addEventListener("keydown", (event) => {
  const header = document.querySelector("#header.open");
  if (event.key !== "Escape" || !header) return;
  header.classList.remove("open");
  const button = header.querySelector("button.menu-toggle");
  button.setAttribute("aria-expanded", "false");
  button.focus();
});
