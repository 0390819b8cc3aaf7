"""The centre: what Vigil knows and decides, with no I/O and no clock of its own."""
