// The admin's search box has only an icon for a label (axe: label-title-only):
// give it a name, without copying Django's search_form.html.
document.addEventListener("DOMContentLoaded", () => {
  const search = document.getElementById("searchbar");
  if (search && !search.hasAttribute("aria-label")) search.setAttribute("aria-label", "Search");
});
