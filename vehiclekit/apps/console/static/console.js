// Keyboard shortcuts: a key presses the button whose data-key it is (1-9 labels, s skip, u undo).
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName)) return;
  const key = event.key === "Backspace" ? "u" : event.key.toLowerCase();
  const button = document.querySelector(`button[data-key="${key}"]:not([disabled])`);
  if (button) {
    event.preventDefault();
    button.click();
  }
});
