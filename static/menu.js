// The header's Menu button (narrow screens), on the app's pages and the
// admin's: it opens and closes its header (the element it sits in); Escape
// closes it and gives the focus back to the button.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.menu-toggle");
  if (!button) return;
  const open = button.parentElement.classList.toggle("open");
  button.setAttribute("aria-expanded", String(open));
});

document.addEventListener("keydown", (event) => {
  const button = document.querySelector(".open > button.menu-toggle");
  if (event.key !== "Escape" || !button) return;
  button.parentElement.classList.remove("open");
  button.setAttribute("aria-expanded", "false");
  button.focus();
});
