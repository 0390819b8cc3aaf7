"""Simulation, replay and benchmarks: Vigil driven as devices would drive it."""
