// Forms with data-confirm ask first; a file, not inline, so the CSP can forbid inline scripts.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// "Choose all" and "Choose none" above a list of files: tick or untick every checkbox of
// the form the button is in (nothing is ticked until someone chooses).
document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("button[data-select]");
  if (!button) {
    return;
  }
  const ticked = button.dataset.select === "all";
  for (const box of button.form.querySelectorAll("input[type=checkbox][name=file]")) {
    box.checked = ticked;
  }
});
