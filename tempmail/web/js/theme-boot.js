// Sets the remembered colour theme before the page is first painted, so a
// dark page never flashes white. Without a remembered choice the system's
// preference applies (through CSS alone).
try {
  const theme = localStorage.getItem("tempmail.theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch {
  // Storage may be disabled; the system theme applies.
}
