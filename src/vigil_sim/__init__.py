"""Simulation and benchmarks: Vigil driven as devices would drive it (replay is `vigil.replay`)."""
