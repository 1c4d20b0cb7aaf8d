"""``check`` and ``run`` for a persona's avatar: a photo avatar's portrait must hold one usable face."""

from __future__ import annotations

from pathlib import Path

from streamer.config import Persona
from streamer.loading import ConfigProblem, line_of


def persona_avatar_problems(persona_path: str | Path, persona: Persona) -> list[ConfigProblem]:
    """Reads a photo avatar's portrait with the face models (about a second) and reports, at the ``avatar.image``
    line, a picture with no face, several faces or a face too small. Nothing to check for the cartoon."""
    avatar = persona.avatar
    if avatar.kind != "photo" or not avatar.image:
        return []
    from streamer.avatar.portrait import PortraitError, read_portrait

    try:
        read_portrait(avatar.image, segment=False)
    except PortraitError as exc:
        return [
            ConfigProblem(
                str(persona_path),
                line_of(persona_path, ("avatar", "image")),
                "avatar.image",
                str(exc),
                "use a sharp, front-facing head-and-shoulders picture of the one presenter",
            )
        ]
    return []
