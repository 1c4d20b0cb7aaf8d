"""``check`` and ``run`` for a persona's avatar: a photo avatar's portrait must hold one usable face, a video
background must loop."""

from __future__ import annotations

from pathlib import Path

from streamer.config import Persona
from streamer.loading import ConfigProblem, line_of


def persona_avatar_problems(
    persona_path: str | Path, persona: Persona, *, text: str | None = None
) -> list[ConfigProblem]:
    """A photo avatar's portrait is read with the face models (about a second): no face, several faces or a face too
    small is an error at the ``avatar.image`` line. A video avatar's clip must have been prepared (from that very
    file): else an error at ``avatar.clip`` saying how. Nothing to check for the cartoon. ``text``: the persona as
    edited (not yet on disk), for the line numbers."""
    avatar = persona.avatar
    from streamer.compose.studio_loop import is_video_background

    if is_video_background(avatar.background) and Path(avatar.background).is_file():
        from streamer.compose.studio_loop import StudioLoop

        try:
            StudioLoop(avatar.background, 64, 64).close()
        except ValueError as exc:  # BackgroundClipError names the file and what is wrong
            line = line_of(persona_path, ("avatar", "background"), text=text)
            hint = "use a video of at least 1 s that plays (H.264 MP4 at the show's size loops cheapest)"
            return [ConfigProblem(str(persona_path), line, "avatar.background", str(exc), hint)]
    if avatar.lipsync.engine == "neural" and avatar.lipsync.model:
        from streamer.avatar.neural import NeuralLipSync

        try:
            NeuralLipSync(avatar.lipsync.model, device="cpu")
        except ValueError as exc:  # LipSyncModelError names the file and what is wrong
            line = line_of(persona_path, ("avatar", "lipsync", "model"), text=text)
            hint = "supply a Wav2Lip-class ONNX export: inputs (B, 6, 96, 96) and (B, 1, 80, 16), output (B, 3, 96, 96)"
            return [ConfigProblem(str(persona_path), line, "avatar.lipsync.model", str(exc), hint)]
    try:
        if avatar.kind == "photo" and avatar.image:
            from streamer.avatar.portrait import read_portrait

            read_portrait(avatar.image, segment=False)
        elif avatar.kind == "video" and avatar.clip:
            from streamer.avatar.video import prepared_for

            prepared_for(avatar)
    except ValueError as exc:  # PortraitError, ClipError: the message names the file and the cause
        key = "image" if avatar.kind == "photo" else "clip"
        hint = (
            "use a sharp, front-facing head-and-shoulders picture of the one presenter"
            if key == "image"
            else "prepare the clip once with run_stream.py prepare-avatar"
        )
        return [
            ConfigProblem(
                str(persona_path), line_of(persona_path, ("avatar", key), text=text), f"avatar.{key}", str(exc), hint
            )
        ]
    return []
