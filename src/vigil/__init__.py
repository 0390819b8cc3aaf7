"""Vigil: a real-time electronic-monitoring control centre that protects victims of stalking."""

__version__ = "0.1.0"
