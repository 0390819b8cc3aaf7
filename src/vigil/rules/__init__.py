"""Detection rules: pure functions of (state, input, now) -> (state, signals)."""
