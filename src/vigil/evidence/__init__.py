"""Evidence for a court: a breach report (one alert, or an order over a time range) as canonical JSON
with its SHA-256 (`report`), and the same evidence as a PDF that carries that hash on every page
(`pdf`)."""
