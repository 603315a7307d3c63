// Forms with data-confirm ask first; a file, not inline, so the CSP can forbid inline scripts.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
