// The colour theme toggle: system (the default), light, dark. The choice is
// remembered in localStorage; js/theme-boot.js applies it before paint.

const KEY = "tempmail.theme";
const ORDER = ["system", "light", "dark"];

function current() {
  const theme = document.documentElement.dataset.theme;
  return theme === "light" || theme === "dark" ? theme : "system";
}

function apply(theme, button) {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  button.textContent = `Theme: ${theme}`;
  try {
    if (theme === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, theme);
  } catch {
    // Not remembered, but still applied.
  }
}

/** Make `button` cycle through the themes. */
export function setUpThemeToggle(button) {
  button.textContent = `Theme: ${current()}`;
  button.addEventListener("click", () => {
    const next = ORDER[(ORDER.indexOf(current()) + 1) % ORDER.length];
    apply(next, button);
  });
}
