"""Benchmarks that print one JSON object each (figures, machine core count, what was measured).

``python -m streamer.bench pipeline --size 1280x720 --seconds 20``
    The per-frame show pipeline (speech playout + cartoon avatar + overlays + H.264/AAC encode) as fast as it
    goes, then the same frames through the encoder alone, in the same run.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # before the heavy imports: startup_to_first_frame_s counts them

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] if s else 0.0


def pipeline(args: argparse.Namespace) -> dict[str, object]:

    from streamer.clock import MonotonicClock, audio_share
    from streamer.config import AudioSettings, Persona, VideoSettings, VoiceSettings
    from streamer.frames import AUDIO_RATE_HZ, AudioFrame, MouthPose, SpeechSegment, VideoFrame
    from streamer.loading import load_persona
    from streamer.playout import SpeechPlayout
    from streamer.publish.encoder import AVEncoder
    from streamer.publish.media_loop import MediaLoop
    from streamer.scene import Scene
    from streamer.voice.base import create_voice

    w, h = (int(x) for x in args.size.lower().split("x"))
    fps = args.fps
    persona_path = Path(args.persona)
    persona = load_persona(persona_path)[0] if persona_path.exists() else Persona(name="Bench")
    video = VideoSettings(width=w, height=h, fps=fps, preset=args.preset)
    scene = Scene(persona=persona, width=w, height=h, seed=1)
    playout = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.25, max_ahead_s=3600)
    encoder = AVEncoder(video=video, audio=AudioSettings())
    loop = MediaLoop(fps=fps, renderer=scene, playout=playout, encoder=encoder, outputs=[], clock=MonotonicClock())
    loop.tick(0)
    startup_to_first_frame_s = time.perf_counter() - T0

    # Real speech, so the mouth moves and the audio is not silence (synthesised before timing starts).
    voice = create_voice(VoiceSettings(backend=args.voice) if args.voice != "piper" else persona.voice)
    voice.load()
    lines = [
        "Hi everyone, welcome to the stream, today we have some really great things to show you.",
        "This coffee is roasted in small batches, and it smells amazing when you open the bag.",
        "It is usually twenty four dollars, and today it is nineteen dollars ninety nine.",
        "Tap the product card to get yours, and ask me anything in the chat.",
    ]
    speech_s = 0.0
    segments: list[SpeechSegment] = []
    while speech_s < args.seconds:
        text = lines[len(segments) % len(lines)]
        sp = voice.synthesize(text)
        segments.append(SpeechSegment(segment_id=len(segments), text=text, pcm=sp.pcm, visemes=sp.visemes))
        speech_s += sp.pcm.shape[0] / AUDIO_RATE_HZ + 0.25
    for seg in segments:
        playout.push(seg)

    frames = args.seconds * fps
    tick_s: list[float] = []
    wall_t0 = time.perf_counter()
    for n in range(1, frames + 1):
        t = time.perf_counter()
        loop.tick(n)
        tick_s.append(time.perf_counter() - t)
    loop.finish()
    wall_s = time.perf_counter() - wall_t0
    peak_rss_mb = _peak_rss_mb()
    encoder.close()

    # Encode-only: a fresh scene renders the very same frames again (deterministic in media time and speech),
    # untimed and with nothing else running; only the encoder calls are timed.
    scene2 = Scene(persona=persona, width=w, height=h, seed=1)
    replay = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.25, max_ahead_s=3600)
    replay.pull(audio_share(0, fps)[1])
    scene2.render(0.0, MouthPose.rest())
    for seg in segments:
        replay.push(seg)
    enc2 = AVEncoder(video=video, audio=AudioSettings())
    enc_s = 0.0
    for n in range(1, frames + 1):
        pulled = replay.pull(audio_share(n, fps)[1])
        for seg in pulled.started:
            scene2.on_speech_started(seg)
        picture = scene2.render(n / fps, pulled.mouth)
        k = n - 1  # a fresh encoder's timeline starts at 0
        t = time.perf_counter()
        enc2.encode(VideoFrame(pts=k, i420=picture), AudioFrame(pts=audio_share(k, fps)[0], pcm=pulled.pcm))
        enc_s += time.perf_counter() - t
    t = time.perf_counter()
    enc2.flush()
    enc_s += time.perf_counter() - t
    enc2.close()
    stored = frames
    media_s = frames / fps
    result = {
        "benchmark": "pipeline",
        "measured": "per-frame show work: speech playout + cartoon avatar + overlays + H.264/AAC encode, "
        "unpaced; encode_only re-encodes the same frames alone",
        "size": f"{w}x{h}",
        "fps": fps,
        "preset": args.preset,
        "frames": frames,
        "wall_s": round(wall_s, 3),
        "realtime_factor": round(media_s / wall_s, 2),
        "encode_only_realtime_factor": round(stored / fps / enc_s, 2) if enc_s else None,
        "pipeline_vs_encode_only": round((media_s / wall_s) / (stored / fps / enc_s), 3) if enc_s else None,
        "frame_ms_p50": round(_percentile(tick_s, 0.5) * 1000, 2),
        "frame_ms_p95": round(_percentile(tick_s, 0.95) * 1000, 2),
        "cpu_count": os.cpu_count(),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "startup_to_first_frame_s": round(startup_to_first_frame_s, 3),
        "voice": getattr(voice, "name", args.voice),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamer.bench")
    sub = parser.add_subparsers(dest="which", required=True)
    p = sub.add_parser("pipeline", help="render + compose + encode throughput")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--preset", default="veryfast")
    p.add_argument("--persona", default="personas/host.yaml")
    p.add_argument("--voice", default="piper", choices=["piper", "silence"])
    args = parser.parse_args(argv)
    if args.which == "pipeline":
        print(json.dumps(pipeline(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
