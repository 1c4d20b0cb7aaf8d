"""Every place the encode goes: the :class:`Output` contract, and :func:`open_outputs`, the one place that
knows the concrete kinds (a muxing sink per target -- RTMP or a recording -- and the dashboard's live preview) and
builds one encoder per distinct :class:`~streamer.publish.encoder.EncoderProfile` they want.

The media thread only *offers* packets to an output (never blocks); everything else is the output's own business:
its thread or event loop, its bounded backlog, its reconnects. The show starts the outputs, reads their
:meth:`Output.stats` for status and metrics, and closes them together when it stops, each within its own limit.
A new kind (WebRTC, another protocol) implements this contract, names the profile it wants, and is added here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from streamer.publish.encoder import BROADCAST, AVEncoder, EncodedPacket, EncoderProfile, FrameEncoder

if TYPE_CHECKING:
    from streamer.config import AudioSettings, VideoSettings
    from streamer.publish.platforms import PlatformRules
    from streamer.publish.preview import PreviewHub
    from streamer.publish.sinks import Target
    from streamer.publish.whep import WhepHub


class PacketOutput(Protocol):
    """All the media loop needs of an output."""

    def offer(self, packets: list[EncodedPacket]) -> None: ...


@runtime_checkable
class Output(Protocol):
    @property
    def name(self) -> str:
        """How status, metrics and logs name it (a target's URL with its key hidden, or ``preview``)."""
        ...

    @property
    def profile(self) -> EncoderProfile:
        """The encode it takes (:data:`~streamer.publish.encoder.BROADCAST` for RTMP, files and the preview)."""
        ...

    want_keyframe: Callable[[], None] | None
    """Set by :func:`open_outputs` to its own profile's encoder's ``request_keyframe``: the output calls it when it
    needs a fresh keyframe (a (re)connect, a dropped backlog, a viewer joining, a picture-loss report)."""

    @property
    def live(self) -> bool:
        """Whether it is delivering right now (connected, or has somebody watching)."""
        ...

    def start(self) -> None:
        """Begin delivering (connect, open the file); returns at once."""
        ...

    def offer(self, packets: list[EncodedPacket]) -> None:
        """Take the packets of one frame, all from its profile's encoder; never blocks (called from the media
        thread)."""
        ...

    def close(self, *, drain: bool, timeout_s: float) -> bool:
        """Stop: ``drain`` finishes what is queued first (a recording ends playable). True when it stopped within
        ``timeout_s``. May be called from any thread."""
        ...

    def stats(self) -> dict[str, Any]:
        """Its health as plain values (``name``, ``state`` and its own counters); never a secret."""
        ...


#: Called (on the output's own thread) after each connect: ``reconnect`` is False the first time.
OnConnected = Callable[[Output, bool], "float | None"]
"""Told each time an output (re)connects (and whether it is a reconnect). May return a media time: the output then
starts on the first keyframe after it (the show returns where its AI notice starts again, see
:meth:`streamer.scene.Scene.show_notice`)."""


@dataclass
class Encoding:
    """One distinct profile: its encoder, and the outputs that take (only) its packets."""

    profile: EncoderProfile
    encoder: FrameEncoder
    outputs: list[PacketOutput] = field(default_factory=list)


@dataclass
class Outputs:
    """The show's outputs; ``preview`` (also in ``all``) feeds the dashboard's live video. ``encodings``: one per
    distinct profile, in the order first wanted (empty when the caller made the encoder itself)."""

    all: list[Output] = field(default_factory=list)
    preview: PreviewHub | None = None
    whep: WhepHub | None = None
    """The dashboard's WebRTC preview (beside ``preview``, also in ``all``)."""
    encodings: list[Encoding] = field(default_factory=list)

    @property
    def encoders(self) -> list[FrameEncoder]:
        return [e.encoder for e in self.encodings]

    def encoder_for(self, output: Output) -> FrameEncoder | None:
        """The encoder whose packets ``output`` takes."""
        return next((e.encoder for e in self.encodings if any(o is output for o in e.outputs)), None)

    def request_keyframe(self) -> None:
        """Every encoder's next frame is a keyframe. Thread-safe."""
        for e in self.encodings:
            e.encoder.request_keyframe()

    def close(self) -> None:
        """Close the encoders (idempotent). The outputs themselves are closed by the show first, each with its own
        ``drain`` and limit (:meth:`Output.close`)."""
        for e in self.encodings:
            e.encoder.close()


def open_outputs(
    targets: list[Target],
    *,
    video: VideoSettings,
    audio: AudioSettings | None = None,
    extra: Sequence[Output] = (),
    on_connected: OnConnected | None = None,
    max_backoff_s: float = 30.0,
    now: Callable[[], float] | None = None,
    preview_loop: asyncio.AbstractEventLoop | None = None,
    platforms: Mapping[str, PlatformRules] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Outputs:
    """One output per target, plus the live preview when ``preview_loop`` is given (it lives on that loop), plus
    ``extra`` outputs made elsewhere; and one encoder per distinct profile they want (``video``/``audio``: the
    show's settings), returned in :attr:`Outputs.encodings` for the media loop. Each output's ``want_keyframe``
    asks its own encoder, and so does each (re)connect of a target (before ``on_connected`` runs). With no output
    at all, the :data:`BROADCAST` encoder is still built (a show's frame cost stays that of a real show).

    ``now``: the show's clock, which the reconnect policy measures a connection's stability with. ``platforms``:
    the platform rules (default: the shipped ones): each target's encode follows its platform's ceilings (a distinct
    profile when they lower the show's settings) and its broadcasts are rotated before the platform's length cap.
    ``metadata``: container tags every muxing target writes each time it opens (RTMP ``onMetaData``, FLV/MP4 tags),
    and each recording's sidecar carries (the AIGC label: :func:`streamer.publish.aigc.aigc_metadata`); WebRTC
    targets and the preview carry none.

    """
    from streamer.publish.preview import PreviewHub
    from streamer.publish.sinks import MuxSink

    outputs = Outputs()
    from streamer.config import AudioSettings

    audio_settings = audio if audio is not None else AudioSettings()
    encoders: dict[EncoderProfile, AVEncoder] = {}

    def encoder_for(profile: EncoderProfile) -> AVEncoder:
        enc = encoders.get(profile)
        if enc is None:
            clash = next((p for p in encoders if p.name == profile.name), None)
            if clash is not None:
                raise ValueError(f"two different encoder profiles are both named {profile.name!r}")
            source = video_source_for(profile) if profile.shared_video else None
            enc = encoders[profile] = AVEncoder(video=video, audio=audio_settings, profile=profile, video_source=source)
        return enc

    def video_source_for(profile: EncoderProfile) -> AVEncoder:
        """The encode whose video a sharing profile takes: one already wanted with the same video settings (the
        broadcast's, usually), else one made for it (its outputs are only those sharing its video)."""
        key = profile.video_key(video)
        for p, enc in encoders.items():
            if not p.shared_video and not p.inband_parameter_sets and p.video_key(video) == key:
                return enc
        return encoder_for(profile.video_source())

    from streamer.publish.platforms import load_platforms, profile_for, rotate_after_s

    rules_by_name = dict(platforms) if platforms is not None else load_platforms()
    built: dict[int, Output] = {}
    try:
        # The encodes that make their own video first: a WHIP output takes its video from one of them when their
        # settings match (the broadcast's H.264: one video encode for RTMP, the recordings, the preview and WebRTC).
        if preview_loop is not None:
            encoder_for(PreviewHub.profile)
        for i, target in sorted(enumerate(targets), key=lambda it: it[1].kind == "whip"):
            rules = rules_by_name[target.platform]
            if target.kind == "whip":  # WebRTC (see streamer.publish.whip); aiortc loaded only here
                from streamer.publish.whip import WhipOutput

                whip = WhipOutput(
                    target, on_connected=on_connected, max_backoff_s=max_backoff_s, now=now or time.monotonic
                )
                whip.profile = profile_for(WhipOutput.profile, rules, video)
                whip.rotate_after_s = rotate_after_s(rules)
                whip.h264_profile_level_id = encoder_for(whip.profile).h264_profile_level_id
                built[i] = whip
                continue
            profile = profile_for(MuxSink.profile, rules, video)
            enc = encoder_for(profile)
            sink = MuxSink(
                target,
                video_template=enc.video_stream,
                audio_template=enc.audio_stream,
                on_connected=_keyframe_then(enc, on_connected),
                max_backoff_s=max_backoff_s,
                now=now or time.monotonic,
                metadata=metadata,
            )
            sink.profile = profile
            sink.rotate_after_s = rotate_after_s(rules) if target.is_network else None
            built[i] = sink
        outputs.all.extend(built[i] for i in range(len(targets)))
        if preview_loop is not None:
            enc = encoder_for(PreviewHub.profile)
            outputs.preview = PreviewHub(
                video_template=enc.video_stream,
                audio_template=enc.audio_stream,
                want_keyframe=enc.request_keyframe,
                loop=preview_loop,
            )
            outputs.all.append(outputs.preview)
            from streamer.publish.whep import WhepHub

            outputs.whep = WhepHub(loop=preview_loop)  # its encode runs only while somebody watches
            outputs.all.append(outputs.whep)
        outputs.all.extend(extra)
        for output in outputs.all:
            enc = encoder_for(output.profile)
            output.want_keyframe = enc.request_keyframe
        if not encoders:
            encoder_for(BROADCAST)
    except BaseException:
        for enc in encoders.values():
            enc.close()
        raise
    outputs.encodings = [
        Encoding(profile=p, encoder=enc, outputs=[o for o in outputs.all if o.profile == p])
        for p, enc in encoders.items()
    ]
    return outputs


def _keyframe_then(encoder: AVEncoder, on_connected: OnConnected | None) -> Callable[[Any, bool], float | None]:
    """A target's connect callback: its encoder's next frame is a keyframe (the new connection starts on it),
    then the show's own callback (which shows the AI notice again, on a keyframe, and says from when)."""

    def connected(output: Any, reconnect: bool) -> float | None:
        encoder.request_keyframe()
        if on_connected is not None:
            return on_connected(output, reconnect)
        return None

    return connected
