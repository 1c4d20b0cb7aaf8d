"""Every place the one encode goes: the :class:`Output` contract, and :func:`open_outputs`, the one place that
knows the concrete kinds (a muxing sink per target -- RTMP or a recording -- and the dashboard's live preview).

The media thread only *offers* packets to an output (never blocks); everything else is the output's own business:
its thread or event loop, its bounded backlog, its reconnects. The show starts the outputs, reads their
:meth:`Output.stats` for status and metrics, and closes them together when it stops, each within its own limit.
A new kind (WebRTC, another protocol) implements this contract and is added here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from streamer.publish.encoder import EncodedPacket

if TYPE_CHECKING:
    from streamer.publish.preview import PreviewHub
    from streamer.publish.sinks import Target


@runtime_checkable
class Output(Protocol):
    @property
    def name(self) -> str:
        """How status, metrics and logs name it (a target's URL with its key hidden, or ``preview``)."""
        ...

    @property
    def live(self) -> bool:
        """Whether it is delivering right now (connected, or has somebody watching)."""
        ...

    def start(self) -> None:
        """Begin delivering (connect, open the file); returns at once."""
        ...

    def offer(self, packets: list[EncodedPacket]) -> None:
        """Take the packets of one frame; never blocks (called from the media thread)."""
        ...

    def close(self, *, drain: bool, timeout_s: float) -> bool:
        """Stop: ``drain`` finishes what is queued first (a recording ends playable). True when it stopped within
        ``timeout_s``. May be called from any thread."""
        ...

    def stats(self) -> dict[str, Any]:
        """Its health as plain values (``name``, ``state`` and its own counters); never a secret."""
        ...


#: Called (on the output's own thread) after each connect: ``reconnect`` is False the first time.
OnConnected = Callable[[Output, bool], None]


@dataclass
class Outputs:
    """The show's outputs; ``preview`` (also in ``all``) feeds the dashboard's live video."""

    all: list[Output] = field(default_factory=list)
    preview: PreviewHub | None = None


def open_outputs(
    targets: list[Target],
    *,
    video_template: Any,
    audio_template: Any,
    want_keyframe: Callable[[], None],
    on_connected: OnConnected | None = None,
    max_backoff_s: float = 30.0,
    now: Callable[[], float] | None = None,
    preview_loop: asyncio.AbstractEventLoop | None = None,
) -> Outputs:
    """One output per target, plus the live preview when ``preview_loop`` is given (it lives on that loop).
    ``now``: the show's clock, which the reconnect policy measures a connection's stability with."""
    from streamer.publish.preview import PreviewHub
    from streamer.publish.sinks import MuxSink

    outputs = Outputs()
    for target in targets:
        sink = MuxSink(
            target,
            video_template=video_template,
            audio_template=audio_template,
            on_connected=on_connected,
            max_backoff_s=max_backoff_s,
            now=now or time.monotonic,
        )
        sink.want_keyframe = want_keyframe
        outputs.all.append(sink)
    if preview_loop is not None:
        outputs.preview = PreviewHub(
            video_template=video_template,
            audio_template=audio_template,
            want_keyframe=want_keyframe,
            loop=preview_loop,
        )
        outputs.all.append(outputs.preview)
    return outputs
