"""``check`` for a persona's voice: can it load, and does it speak the persona's language? (no model session)

A voice that cannot load would put a silent show on air, so every cause is a configuration error naming the
persona file, the line and the field ``voice.voice``: an unknown voice name, a missing ``.onnx`` or ``.onnx.json``,
a config that is not JSON or lacks Piper's keys, a model file that is not an ONNX Piper voice (damaged, cut short,
another model), a pinyin voice without its g2pW files, and a Chinese persona with a voice that is not Chinese.

What it does not do: open an onnxruntime session. Loading en_US-joe-medium takes 1.5-4.5 s on the 2-core dev box
(over the 2 s a ``check`` may spend) and the show loads the voice beside the media loop anyway; the structural
look at the model (:func:`streamer.voice.piper.model_problem`, ~40 ms for 60 MB) catches damaged files. A model that
is well-formed but that onnxruntime refuses (an operator it lacks) is still found only when the show loads it.
Nothing here imports piper or onnxruntime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamer.config import CoquiVoiceSettings, EndpointVoiceSettings, Persona, PiperVoiceSettings, VoiceSettings
from streamer.loading import ConfigProblem, Severity, line_of
from streamer.voice.base import VoiceError
from streamer.voice.piper import model_problem, pinyin_requirements_missing, resolve_voice
from streamer.voice.zh import chinese_mode, voice_language

FIELD = "voice.voice"
#: What a Chinese persona needs (the check's hint).
ZH_VOICE_HINT = (
    "a Piper zh_CN voice: put zh_CN-<name>-medium.onnx and its .onnx.json in voices/ and set voice.voice to that path"
)
_NAME_HINT = "give an installed Piper voice name like en_US-joe-medium, or the path of an .onnx file next to its .json"
#: Keys Piper reads from a voice config (piper.config.PiperConfig.from_dict), as paths.
_REQUIRED_KEYS: tuple[tuple[str, ...], ...] = (
    ("audio", "sample_rate"),
    ("espeak", "voice"),
    ("phoneme_id_map",),
    ("num_symbols",),
    ("num_speakers",),
)
_SHIPPED = "use the .onnx.json shipped with the voice"
_PHONEME_TYPES = frozenset({"espeak", "text", "pinyin", "hebrew", "japanese", "thai"})


def _is_zh(language: str) -> bool:
    return language.split("-")[0].lower() == "zh"


def _get(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def voice_problems(settings: VoiceSettings, *, language: str, file: str, line: int | None) -> list[ConfigProblem]:
    """Problems with the voice ``settings`` of a persona in ``language`` (``file``/``line`` locate ``voice.voice``).

    Only Piper voices are checked (``backend: silence`` has none: the persona asked for no speech). Errors for
    anything that stops the voice from loading; a voice in another language than a non-Chinese persona's is a
    warning (a Chinese persona's is an error: other voices cannot read Han characters at all).
    """
    if isinstance(settings, EndpointVoiceSettings):
        return _endpoint_problems(settings, language=language, file=file, line=line)
    if isinstance(settings, CoquiVoiceSettings):
        return _coqui_problems(settings, language=language, file=file, line=line)
    if settings.backend != "piper" or not isinstance(settings, PiperVoiceSettings):
        return []

    def problem(message: str, hint: str = "", severity: Severity = "error") -> ConfigProblem:
        return ConfigProblem(file, line, FIELD, message, hint, severity)

    voice = settings.voice
    try:
        model_path, config_path = resolve_voice(voice)
    except VoiceError as exc:
        hint = ZH_VOICE_HINT if _is_zh(language) else _NAME_HINT
        if "no config next to the model" in exc.cause:
            hint = "Piper voices come as two files: put the voice's .onnx.json beside its .onnx"
        return [problem(f"voice {voice!r} cannot load: {exc.cause}", hint)]

    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        where = f"{config_path}:{exc.lineno}"
        return [problem(f"voice config {where} is not valid JSON: {exc.msg}", _SHIPPED)]
    except (OSError, UnicodeDecodeError) as exc:
        return [problem(f"voice config {config_path} cannot be read: {exc}", "make the file readable")]
    if not isinstance(config, dict):
        return [problem(f"voice config {config_path} is not a JSON object", _SHIPPED)]
    missing = [".".join(path) for path in _REQUIRED_KEYS if _get(config, path) is None]
    if missing:
        return [
            problem(
                f"voice config {config_path} lacks {', '.join(missing)}: not a Piper voice config",
                _SHIPPED,
            )
        ]
    if not isinstance(config["phoneme_id_map"], dict) or not config["phoneme_id_map"]:
        return [problem(f"voice config {config_path}: phoneme_id_map is empty or not an object")]
    phoneme_type = config.get("phoneme_type", "espeak")
    if phoneme_type not in _PHONEME_TYPES:
        return [problem(f"voice config {config_path}: unknown phoneme_type {phoneme_type!r}")]

    try:
        model = model_path.read_bytes()
    except OSError as exc:
        return [problem(f"voice model {model_path} cannot be read: {exc.strerror or exc}")]
    why = model_problem(model)
    del model
    if why is not None:
        return [problem(f"voice model {model_path}: {why}", "use the .onnx shipped with the voice (re-copy it)")]

    out: list[ConfigProblem] = []
    mode = chinese_mode(config)
    voice_lang = voice_language(config) or "unknown"
    if _is_zh(language) and mode is None:
        out.append(
            problem(
                f"the persona speaks {language} but voice {voice!r} is not a Chinese voice (language: {voice_lang})",
                ZH_VOICE_HINT,
            )
        )
    elif not _is_zh(language) and voice_lang != "unknown":
        family = voice_lang.replace("-", "_").split("_")[0].lower()
        persona_family = language.split("-")[0].lower()
        if mode is not None:
            family = "zh"
        if family != persona_family and len(family) == 2:
            out.append(
                problem(
                    f"the persona speaks {language} but voice {voice!r} speaks {voice_lang}",
                    "choose a voice in the persona's language",
                    "warning",
                )
            )
    if mode == "pinyin":
        lacking = pinyin_requirements_missing(model_path)
        if lacking:
            out.append(
                problem(
                    f"voice {voice!r} reads Chinese as pinyin (g2pW) and needs " + "; ".join(lacking),
                    "install those, or use an espeak zh_CN voice (espeak voice cmn) such as zh_CN-huayan-medium",
                )
            )
    return out


def persona_voice_problems(persona_path: str | Path, persona: Persona) -> list[ConfigProblem]:
    """:func:`voice_problems` for a persona already read by :func:`streamer.loading.read_persona` from
    ``persona_path`` (whose relative ``.onnx`` path it resolved), located at the ``voice.voice`` line."""
    file = str(persona_path)
    line = line_of(persona_path, ("voice", "voice")) or line_of(persona_path, ("voice",))
    out = voice_problems(persona.voice, language=persona.language, file=file, line=line)
    for language, settings in persona.voices.items():
        at = line_of(persona_path, ("voices", language))
        for p in voice_problems(settings, language=language, file=file, line=at):
            field = f"voices.{language}." + p.field.removeprefix("voice.")
            out.append(ConfigProblem(p.file, p.line, field, p.message, p.hint, p.severity))
    return out


def _endpoint_problems(
    settings: EndpointVoiceSettings, *, language: str, file: str, line: int | None
) -> list[ConfigProblem]:
    """``backend: endpoint``: its key's variable is set (a warning: the endpoint may need none), and its fallback
    Piper voice loads and speaks the persona's language (an error: it is what keeps the air from going silent)."""
    import os

    problems: list[ConfigProblem] = []
    env = settings.api_key_env
    if env and not os.environ.get(env):
        problems.append(
            ConfigProblem(
                file,
                line,
                "voice.api_key_env",
                f"environment variable {env} is not set: the endpoint gets no key",
                f"export {env}=... in the service's environment (its value is never printed), or api_key_env: null",
                "warning",
            )
        )
    return problems + _fallback_problems(settings.fallback_voice, language=language, file=file, line=line)


def _fallback_problems(voice: str | None, *, language: str, file: str, line: int | None) -> list[ConfigProblem]:
    """The Piper fallback voice of an endpoint or Coqui voice loads and speaks the persona's language."""
    if not voice:
        return []
    return [
        ConfigProblem(p.file, p.line, "voice.fallback_voice", f"the fallback voice: {p.message}", p.hint, p.severity)
        for p in voice_problems(PiperVoiceSettings(voice=voice), language=language, file=file, line=line)
    ]


def _coqui_problems(settings: CoquiVoiceSettings, *, language: str, file: str, line: int | None) -> list[ConfigProblem]:
    """``backend: coqui``: the package is installed, the folder holds a model this backend runs (and what to put
    there if not), XTTS has a voice and speaks the language, the licence note, and the fallback voice."""
    import importlib.util

    from streamer.voice.coqui import (
        XTTS_LICENCE,
        CoquiModelError,
        model_kind,
        model_languages,
        prepared_voice_problem,
        xtts_language,
    )

    def problem(field: str, message: str, hint: str = "", severity: Severity = "error") -> ConfigProblem:
        return ConfigProblem(file, line, f"voice.{field}", message, hint, severity)

    out: list[ConfigProblem] = []
    if importlib.util.find_spec("TTS") is None:
        out.append(
            problem("backend", "backend coqui needs the coqui-tts package, which is not installed", "make install")
        )
    try:
        kind = model_kind(settings.model_dir)
    except CoquiModelError as exc:
        return [*out, problem("model_dir", exc.cause, "")]
    if kind == "xtts":
        out.append(problem("model_dir", XTTS_LICENCE, "see the model's LICENSE file in its folder", "warning"))
        spoken = xtts_language(settings.language or language)
        languages = model_languages(settings.model_dir)
        if languages and spoken not in languages:
            out.append(problem("language", f"the model does not speak {spoken!r} (it speaks {', '.join(languages)})"))
        if settings.voice_dir:
            why = prepared_voice_problem(settings.voice_dir)
            if why:
                out.append(problem("voice_dir", why))
        elif not settings.speaker_wav and not settings.speaker:
            out.append(
                problem(
                    "voice_dir",
                    "XTTS needs the presenter's voice",
                    "run_stream.py prepare-voice recordings/*.wav -o voices/<name>/ and set voice_dir to it "
                    "(or list the recordings in speaker_wav, or name a built-in speaker)",
                )
            )
    elif settings.voice_dir or settings.speaker_wav:
        out.append(
            problem(
                "voice_dir" if settings.voice_dir else "speaker_wav",
                f"a {kind} model does not clone voices: this setting is ignored",
                "remove it, or use an XTTS model to speak in the presenter's voice",
                "warning",
            )
        )
    return out + _fallback_problems(settings.fallback_voice, language=language, file=file, line=line)
