"""Chat: where viewer comments come from (sources), which ones get answered (triage), and the event log.

Sources sit behind one narrow interface, :class:`streamer.chat.sources.ChatSource`; build one from its config with
:func:`streamer.chat.sources.create_source`. The names below are imported lazily so that importing a light module
of this package (triage, events) does not pull in the network libraries.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "ChatSource": "streamer.chat.sources",
    "ChatSourceConfigError": "streamer.chat.sources",
    "SourceState": "streamer.chat.sources",
    "create_source": "streamer.chat.sources",
    "SimulatorServer": "streamer.chat.simulator",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
