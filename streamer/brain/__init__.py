"""The brain writes what the host says. Backends: ``templates`` (offline, from sheet facts)."""

from streamer.brain.base import Beat, Brain, PatterRequest

__all__ = ["Beat", "Brain", "PatterRequest"]
