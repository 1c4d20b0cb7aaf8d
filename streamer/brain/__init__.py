"""The brain writes what the host says: ``templates`` patter, the offline answer brain, an OpenAI-compatible LLM,
and the guards every sentence passes before it is spoken."""

from streamer.brain.base import Beat, Brain, BrainRequest, Turn

__all__ = ["Beat", "Brain", "BrainRequest", "Turn"]
