"""Phonemes to mouth shapes, and mouth shapes to the pose of one video frame (pure logic, no I/O).

Two steps:

1. :func:`track_from_phonemes` turns espeak IPA phonemes with durations (in a TTS engine's native sample rate)
   into a :class:`~streamer.frames.VisemeTrack` on the media clock (``AUDIO_RATE_HZ``).
2. :func:`mouth_pose` gives the :class:`~streamer.frames.MouthPose` for the video frame that owns samples
   ``[start, start + n)`` of a speech segment: viseme weights crossfaded over ~50 ms around each key boundary
   (coarticulation), and ``open_amount`` from the loudness of exactly that frame's samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from streamer.frames import AUDIO_RATE_HZ, VISEME_COUNT, MouthPose, Viseme, VisemeTrack

# ---- phoneme table ------------------------------------------------------------------------------------------
#
# Vowels go by lip shape and jaw: open (jaw down, lips neutral), wide (lips spread), round (lips rounded).
# Consonant choices, following the classic animation mouth charts (Preston Blair and successors):
# - m b p (and bilabial β ɸ ɓ ʙ): CLOSED, the one shape viewers check; lips must meet.
# - f v (and labiodental ɱ ʋ ⱱ): FV, upper teeth on lower lip.
# - w ʍ ɥ: ROUND. English r (ɹ ɻ, and the r-coloured vowels ɚ ɝ) and the postalveolars ʃ ʒ are ROUND too:
#   in English they are said with rounded, protruded lips, which is what a viewer sees.
# - Alveolar, dental, palatal, velar and uvular consonants (t d n s z θ ð k g ŋ j x ...): WIDE, the "teeth
#   nearly together, lips relaxed-spread" mouth that charts use for C D G K N S T Y Z. Their true shape is set
#   by the neighbouring vowels; the crossfade in :func:`mouth_pose` supplies that.
# - Clicks and implosives go with their place of articulation (ʘ bilabial: CLOSED; the rest WIDE).
# - Laterals (l ɫ ɬ ʎ ʟ) and pharyngeals/epiglottals: OPEN, tongue tip up with the jaw lowered.
# - h ɦ take the shape of the vowel that follows (they are that vowel, breathed); they join the next key.
# - Stress marks (ˈ ˌ) stand before the stressed vowel in espeak's output and the model gives them part of the
#   vowel's sound, so they join the next key. Length marks, diacritics, tone digits and anything unknown join
#   the previous key, as does the glottal stop ʔ (no lip shape of its own). A short word gap joins the previous
#   key; a long one (a pause) is REST. Punctuation (espeak keeps it, Piper voices it as a pause) is REST.

_OPEN = "aɑɐæʌɒɶɜəɘɞɤɫlɭɬɮʎʟħʕʜʢʡ"
_WIDE = "eɛεiɪɨᵻɯjçʝcɟkɡgqɢŋɲɳnɴtdʈɖszʂʐɕʑθðxɣχʁʀrɾɽɺʦɗɠʄʛɰǀǁǂǃ"
_ROUND = "oɔuʊʉɵøœyʏwʍɥɹɻʃʒɧɚɝ"
_CLOSED = "mbpβɸɓʙʘ"
_FV = "fvɱʋⱱ"
_REST = ".,!?;:…—–-\"'()[]^$_"

PHONEME_VISEMES: dict[str, Viseme] = {}
for _chars, _viseme in (
    (_OPEN, Viseme.OPEN),
    (_WIDE, Viseme.WIDE),
    (_ROUND, Viseme.ROUND),
    (_CLOSED, Viseme.CLOSED),
    (_FV, Viseme.FV),
    (_REST, Viseme.REST),
):
    for _ch in _chars:
        PHONEME_VISEMES[_ch] = _viseme

#: Symbols whose duration belongs to the following key (see the comment above).
JOIN_NEXT: frozenset[str] = frozenset("ˈˌhɦ")
WORD_GAP = " "
#: A word gap at least this long (on the media clock) is a pause: the mouth rests.
LONG_GAP_SAMPLES = AUDIO_RATE_HZ // 10

#: Width of the crossfade between consecutive keys (50 ms: within the 40-60 ms of visible coarticulation).
CROSSFADE_SAMPLES = AUDIO_RATE_HZ * 50 // 1000

_JOIN_PREV = -1
_JOIN_NEXT = -2
_GAP = -3


def viseme_for_phoneme(symbol: str) -> Viseme | None:
    """The mouth shape for one phoneme symbol, or None when it has no shape of its own.

    None covers stress and length marks, diacritics, tone digits, word gaps, h and unknown symbols: their
    time joins a neighbouring key. Multi-character symbols (vowel clusters such as ``aɪ``, affricates
    such as ``tʃ``) take the shape of their first character that has one.
    """
    v = PHONEME_VISEMES.get(symbol)
    if v is not None:
        return v
    if len(symbol) > 1:
        for ch in symbol:
            v = PHONEME_VISEMES.get(ch)
            if v is not None:
                return v
    return None


def _role(symbol: str) -> int:
    v = viseme_for_phoneme(symbol)
    if v is not None:
        return int(v)
    if symbol == WORD_GAP:
        return _GAP
    if symbol in JOIN_NEXT:
        return _JOIN_NEXT
    return _JOIN_PREV


def to_media_samples(native: np.ndarray | int, rate_hz: int) -> np.ndarray:
    """Sample offsets at ``rate_hz`` to offsets at ``AUDIO_RATE_HZ``, rounded to nearest, exact integer math."""
    a = np.asarray(native, dtype=np.int64)
    return (a * AUDIO_RATE_HZ + rate_hz // 2) // rate_hz


def track_from_phonemes(
    phonemes: Sequence[str],
    durations: Sequence[int] | np.ndarray,
    *,
    rate_hz: int,
    boundary_after: Sequence[int] | None = None,
) -> VisemeTrack:
    """Viseme keys for phonemes that last ``durations`` samples each at ``rate_hz``.

    Start times are the cumulative sums of the durations in the native rate, rescaled once to
    ``AUDIO_RATE_HZ``, so long segments do not drift. Consecutive keys with the same viseme merge; keys of
    zero length are dropped; the first key starts at 0 (REST if nothing is said there).

    Boundaries (where speech may be cut): by default the middle of each word gap. With ``boundary_after`` (for
    languages whose word gaps are not unit boundaries, e.g. Chinese syllables), the end of each listed phoneme
    instead, or the middle of the word gap that follows it.
    """
    if len(phonemes) != len(durations):
        raise ValueError(f"{len(phonemes)} phonemes but {len(durations)} durations")
    dur = np.asarray(durations, dtype=np.int64)
    if dur.size and int(dur.min()) < 0:
        raise ValueError("durations must be non-negative")
    starts_native = np.concatenate(([0], np.cumsum(dur)))
    starts_media = to_media_samples(starts_native, rate_hz)

    key_starts: list[int] = []
    key_visemes: list[int] = []
    boundaries: list[int] = []
    pending: int | None = None  # start of a run of JOIN_NEXT symbols waiting for their key
    for i, symbol in enumerate(phonemes):
        role = _role(symbol)
        begin = int(starts_media[i])
        if role == _GAP:
            if boundary_after is None:
                boundaries.append((begin + int(starts_media[i + 1])) // 2)
            role = int(Viseme.REST) if int(starts_media[i + 1]) - begin >= LONG_GAP_SAMPLES else _JOIN_PREV
        if role == _JOIN_PREV:
            continue
        if role == _JOIN_NEXT:
            if pending is None:
                pending = begin
            continue
        key_starts.append(begin if pending is None else pending)
        key_visemes.append(role)
        pending = None

    if boundary_after is not None:
        n = len(phonemes)
        for i in boundary_after:
            j = i + 1
            if not 0 <= i < n - 1:
                continue
            if phonemes[j] == WORD_GAP:
                boundaries.append((int(starts_media[j]) + int(starts_media[j + 1])) // 2)
            else:
                boundaries.append(int(starts_media[j]))

    starts_out: list[int] = []
    visemes_out: list[int] = []
    for s, v in zip(key_starts, key_visemes, strict=True):
        if starts_out and s <= starts_out[-1]:
            # The previous key had no length: this one replaces it.
            starts_out.pop()
            visemes_out.pop()
        if visemes_out and visemes_out[-1] == v:
            continue
        starts_out.append(s)
        visemes_out.append(v)
    if not starts_out or starts_out[0] > 0:
        if visemes_out and visemes_out[0] == Viseme.REST:
            starts_out[0] = 0
        else:
            starts_out.insert(0, 0)
            visemes_out.insert(0, int(Viseme.REST))
    return VisemeTrack(
        starts=np.array(starts_out, np.int64),
        visemes=np.array(visemes_out, np.int8),
        boundaries=np.array(sorted(set(boundaries)), np.int64),
    )


# Relative durations for spreading phonemes when a model gives no alignments.
_SPREAD_WEIGHT = {_JOIN_PREV: 0.0, _JOIN_NEXT: 0.0, _GAP: 0.5, int(Viseme.REST): 2.0}
_VOWELS = frozenset("aɑɐæʌɒɶɜəɘɞɤeɛiɪɨᵻɯyoɔuʊʉɵøœʏɚɝ")


def spread_durations(phonemes: Sequence[str], total: int) -> np.ndarray:
    """Estimated durations (int64, summing exactly to ``total``) for phonemes said over ``total`` samples.

    Used only when a model gives no alignments: vowels count twice a consonant, pauses twice, word gaps half,
    marks nothing. Better than spreading evenly, far worse than real alignments.
    """
    weights = np.array(
        [2.0 if p[:1] in _VOWELS else _SPREAD_WEIGHT.get(_role(p), 1.0) for p in phonemes], dtype=np.float64
    )
    if not weights.size:
        return np.zeros(0, np.int64)
    if weights.sum() <= 0:
        weights[:] = 1.0
    edges = np.floor(np.cumsum(weights) / weights.sum() * total + 1e-9).astype(np.int64)
    edges[-1] = total
    return np.diff(np.concatenate(([0], edges)))


# ---- per-frame pose -----------------------------------------------------------------------------------------

#: Frame RMS (full scale = 1.0) below this is treated as silence: the jaw shuts in pauses and breath noise.
OPEN_GATE_RMS = 0.004
#: RMS at which the jaw is ~63% open. Piper speech peak-normalised to -1 dBFS has vowels at RMS ~0.08-0.3.
OPEN_SCALE_RMS = 0.1


def open_amount_for_rms(rms: float) -> float:
    """Loudness (RMS, full scale 1.0) to jaw opening 0..1: gated, then a soft knee that saturates near 1.

    ``1 - exp(-x)`` is nearly linear for quiet sounds (so the mouth follows the envelope) and compresses loud
    ones (so shouting does not unhinge the jaw). Monotonic non-decreasing.
    """
    x = rms - OPEN_GATE_RMS
    if x <= 0.0:
        return 0.0
    return 1.0 - math.exp(-x / OPEN_SCALE_RMS)


def frame_rms(pcm: np.ndarray, start: int, n: int) -> float:
    """RMS (full scale 1.0) of int16 ``pcm[start:start+n]``; samples outside ``pcm`` count as silence."""
    if n <= 0:
        return 0.0
    a = max(start, 0)
    b = min(start + n, int(pcm.shape[0]))
    if b <= a:
        return 0.0
    seg = pcm[a:b].astype(np.float32)
    energy = float(np.dot(seg, seg))
    return math.sqrt(energy / n) / 32768.0


def mouth_pose(
    track: VisemeTrack, pcm: np.ndarray, start: int, n: int, *, crossfade_samples: int = CROSSFADE_SAMPLES
) -> MouthPose:
    """Pose for the video frame whose audio is samples ``[start, start + n)`` of this speech segment.

    Weights: the share of each viseme inside a window of ``crossfade_samples`` centred on the frame's middle
    (a box filter over the key sequence). Between two long keys that is a linear crossfade over the window;
    keys shorter than the window never reach full weight, as in real coarticulation. Outside ``[0, len(pcm))``
    the mouth is at REST. Weights are non-negative and sum to 1.

    ``open_amount``: :func:`open_amount_for_rms` of exactly this frame's samples, no smoothing, so it never
    lags the audio.
    """
    total = int(pcm.shape[0])
    weights = np.zeros(VISEME_COUNT, np.float32)
    starts = track.starts
    visemes = track.visemes
    keys = int(starts.shape[0])
    centre = start + 0.5 * n
    half = 0.5 * crossfade_samples

    if half <= 0.0:
        if 0 <= centre < total and keys:
            i = int(np.searchsorted(starts, centre, side="right")) - 1
            weights[int(visemes[i]) if i >= 0 else Viseme.REST] = 1.0
        else:
            weights[Viseme.REST] = 1.0
        return MouthPose(weights=weights, open_amount=open_amount_for_rms(frame_rms(pcm, start, n)))

    lo = centre - half
    hi = centre + half
    width = hi - lo
    inner_lo = max(lo, 0.0)
    inner_hi = min(hi, float(total))
    rest = width - max(inner_hi - inner_lo, 0.0)  # the window's part outside the segment
    if inner_hi > inner_lo and keys:
        i = int(np.searchsorted(starts, inner_lo, side="right")) - 1
        if i < 0:
            # Keys that start after 0: the time before the first one is rest.
            first = float(starts[0])
            rest += max(min(first, inner_hi) - inner_lo, 0.0)
            i = 0
        while i < keys:
            key_lo = float(starts[i])
            if key_lo >= inner_hi:
                break
            key_hi = float(starts[i + 1]) if i + 1 < keys else inner_hi
            overlap = min(key_hi, inner_hi) - max(key_lo, inner_lo)
            if overlap > 0.0:
                weights[visemes[i]] += overlap
            i += 1
    elif inner_hi > inner_lo:
        rest += inner_hi - inner_lo
    weights[Viseme.REST] += rest
    weights /= width
    return MouthPose(weights=weights, open_amount=open_amount_for_rms(frame_rms(pcm, start, n)))


def group_durations(
    groups: Sequence[tuple[str, list[int]]], phoneme_ids: Sequence[int], samples: Sequence[int]
) -> tuple[list[str], list[int]] | None:
    """Each group's symbol and samples, walking ``phoneme_ids`` group by group (each group's ids in order), or None
    when the ids are not exactly the groups' ids one after the other."""
    symbols: list[str] = []
    durations: list[int] = []
    i = 0
    for symbol, ids in groups:
        j = i + len(ids)
        if list(phoneme_ids[i:j]) != ids:
            return None
        symbols.append(symbol)
        durations.append(sum(samples[i:j]))
        i = j
    if i != len(phoneme_ids):
        return None
    return symbols, durations
