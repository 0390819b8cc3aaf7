// The shared palette (common/palette.css) for scripts: map layers take their colours from here, so
// a status or a person has one colour in every app.

const FALLBACK = {
  ok: "#2e7d4f", warning: "#9a5b00", violation: "#b3261e", tamper: "#6a3d9a", silent: "#6b7280",
  subject: "#b3261e", protected: "#1f6fb2", unit: "#1d2733",
};

// colour("protected") -> "#1f6fb2": the value of --protected on the page (the stylesheet's), else
// the palette's own.
export function colour(name) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim();
  return value || FALLBACK[name] || "#6b7280";
}
