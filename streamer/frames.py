"""Typed frames that move between the stages of the show.

Speech queued but not yet heard is discarded by an interruption (see :meth:`SpeechPlayout.replace_at_boundary`);
audio and video frames always flow.
Hot-path data are slotted dataclasses; configuration lives in :mod:`streamer.config` (Pydantic).

Time: every media timestamp is an integer ``pts`` in a stated time base. Audio uses ``1/AUDIO_RATE_HZ``,
video uses ``1/fps``. Convert only with :mod:`streamer.clock`.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

#: The one audio rate of the media path (what AAC is encoded at).
AUDIO_RATE_HZ = 48_000


class Viseme(enum.IntEnum):
    """Mouth shapes the avatar can blend between."""

    REST = 0  # silence, lips relaxed and together
    CLOSED = 1  # M, B, P: lips pressed
    OPEN = 2  # A-like vowels: jaw open
    WIDE = 3  # E, I: lips spread
    ROUND = 4  # O, U, W: lips rounded
    FV = 5  # F, V: upper teeth on lower lip


VISEME_COUNT = len(Viseme)


@dataclass(slots=True)
class VisemeTrack:
    """Mouth-shape keys on the audio clock of one speech segment.

    ``starts`` holds sample offsets (at ``AUDIO_RATE_HZ``) where each key begins, ascending, first one 0;
    ``visemes`` holds the :class:`Viseme` value of each key. A key lasts until the next one starts;
    the last lasts to the end of the segment.
    """

    starts: np.ndarray  # int64, shape (n,)
    visemes: np.ndarray  # int8, shape (n,)
    boundaries: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Sample offsets between words (mid-gap), ascending: where speech may be cut without cutting a word."""

    def __post_init__(self) -> None:
        if self.starts.shape != self.visemes.shape:
            raise ValueError("starts and visemes must have the same length")

    @classmethod
    def silent(cls) -> VisemeTrack:
        return cls(starts=np.zeros(1, np.int64), visemes=np.array([Viseme.REST], np.int8))


@dataclass(slots=True)
class MouthPose:
    """What the renderer draws: a blend of visemes plus how far the jaw is open.

    ``weights`` has one entry per :class:`Viseme`, non-negative, summing to 1.
    ``open_amount`` is 0 (closed) .. 1 (widest), driven by the speech envelope so lips follow loudness.
    """

    weights: np.ndarray  # float32, shape (VISEME_COUNT,)
    open_amount: float = 0.0
    crop: np.ndarray | None = None
    """The neural lip-sync engine's face for this frame ((96, 96, 3) uint8 BGR), when it is ready in time; the
    avatar then pastes it instead of warping the mouth."""

    @classmethod
    def rest(cls) -> MouthPose:
        w = np.zeros(VISEME_COUNT, np.float32)
        w[Viseme.REST] = 1.0
        return cls(weights=w, open_amount=0.0)


class PcmFill:
    """PCM still being written into a sentence's array while its start is already heard (streaming synthesis).

    The first ``ready`` samples are final; the rest of the array is being decoded by the voice's worker, ahead of
    the media clock. ``ready`` only grows (one int, set by one writer thread); ``done`` is set when all samples are
    final. A worker that fails leaves zeros (silence) in what it did not write and still completes, so a reader
    never waits for ever.
    """

    __slots__ = ("done", "failed", "ready", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self.ready = 0
        self.done = threading.Event()
        self.failed = False

    def advance(self, samples: int) -> None:
        self.ready = max(self.ready, min(samples, self.total))

    def complete(self, *, failed: bool = False) -> None:
        self.failed = failed
        self.ready = self.total
        self.done.set()


@dataclass(slots=True)
class SpeechSegment:
    """One sentence, voiced: mono int16 PCM at ``AUDIO_RATE_HZ`` and its viseme keys (content frame)."""

    segment_id: int
    text: str
    pcm: np.ndarray  # int16, shape (samples,)
    visemes: VisemeTrack
    kind: str = "patter"  # patter | transition | greeting | invite | reply | reply_more | social | operator
    product_id: str | None = None
    section: str | None = None
    """For patter: the persona section it belongs to (hook, features, price...)."""
    reply_to: str | None = None
    """For replies: the id of the chat pick being answered (latency is measured from its arrival)."""
    resumes: str | None = None
    """For the rest of a sentence a reply cut into (said after the reply): the whole sentence."""
    heard: str = ""
    """For such a rest: the sentence's words viewers heard before the cut (the rest may say some of them again)."""
    mouths: Any = None
    """The neural lip-sync stage's mouths for this sentence (:class:`streamer.avatar.neural.RenderedMouths`), filled
    in ahead of the media clock; None without a neural engine."""
    filling: PcmFill | None = None
    """Set while the end of ``pcm`` is still being decoded (streaming synthesis): only ``filling.ready`` samples may
    be played yet. None when all of ``pcm`` is final."""

    @property
    def samples(self) -> int:
        return int(self.pcm.shape[0])


@dataclass(slots=True)
class AudioFrame:
    """Exactly one video frame's share of mono int16 audio; ``pts`` counts samples since the show started."""

    pts: int
    pcm: np.ndarray


@dataclass(slots=True)
class VideoFrame:
    """One composed picture as planar I420 (``height * 3 // 2`` rows of ``width`` bytes); ``pts`` counts frames.
    ``keyframe``: every encoder makes this very frame an IDR (the first frame of the AI notice: a viewer who joins
    on it sees the notice from its first picture)."""

    pts: int
    i420: np.ndarray
    keyframe: bool = False


# ---- chat ----------------------------------------------------------------------------------------------------

ChatKind = Literal["comment", "gift", "like", "join", "purchase"]
CHAT_KINDS: frozenset[str] = frozenset(get_args(ChatKind))


@dataclass(slots=True)
class ChatMessage:
    """One viewer event from a chat source. ``user`` and ``text`` are raw and untrusted: triage sanitises them."""

    source: str
    """Which source it came from: "websocket", "twitch", "youtube", "simulator" (plus the source's name)."""
    message_id: str
    """Unique within the source (used to drop duplicates after reconnects)."""
    user: str
    text: str
    kind: ChatKind = "comment"
    user_id: str = ""
    received_s: float = 0.0
    """When it reached livehost, on the show's monotonic clock."""
    sent_at_s: float | None = None
    """The platform's own timestamp (Unix seconds) when it gave one."""
    tags: dict[str, str] = field(default_factory=dict)
    """Source extras: badges, moderator flag, gift name and amount..."""


@dataclass(slots=True)
class HeardSpeech:
    """What viewers actually heard of a segment before it ended or was cut (for transcripts and memory)."""

    segment_id: int
    text: str
    """The words heard (all of them unless cut)."""
    heard_samples: int
    interrupted: bool = False
    kind: str = "patter"
    product_id: str | None = None
    sentence: str = ""
    """The whole sentence the segment was voicing."""
    section: str | None = None
    """The patter section the sentence belonged to (``"call_to_action"``...; None outside patter)."""
