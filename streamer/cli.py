"""Command line: ``run`` (default), ``check``, ``ask``, ``prepare-avatar``, ``prepare-voice``, ``audit export`` and
``fleet``.

Exit codes: 0 clean stop, 1 runtime failure, 2 configuration error (every problem printed with file, line, field
and a hint; never a traceback for a user error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from pathlib import Path
from typing import NoReturn

from streamer import early_stop
from streamer.config import StreamConfig

log = logging.getLogger("streamer")

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_CONFIG = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 on usage errors too: same code as config errors
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)


def _default(path: str) -> str | None:
    return path if Path(path).exists() else None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="run_stream.py", description="livehost: an always-on, labelled AI host for live shopping")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--persona", default=None, help="persona YAML (default: personas/host.yaml)")
        p.add_argument(
            "--products", default=None, help="product sheets: directory, file, or http(s) URL (default: products/)"
        )
        p.add_argument("--config", default=None, help="stream.yaml with the remaining settings")

    run = sub.add_parser("run", help="run the show (default)")
    common(run)
    run.add_argument(
        "--out",
        action="append",
        default=None,
        metavar="TARGET",
        help="rtmp://, rtmps:// or a .flv/.mp4 path; repeatable. ${VAR} reads a stream key from the "
        "environment. Default: a recording under recordings/",
    )
    run.add_argument("--size", default=None, help="WxH, default 1280x720")
    run.add_argument("--fps", type=int, default=None, help="frames per second, default 30")
    run.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="stop cleanly after this much media time"
    )
    run.add_argument(
        "--dashboard",
        default=None,
        metavar="HOST:PORT",
        help="serve the operator dashboard (live preview, chat, takeover, editing) here; default 127.0.0.1:8080, "
        "port 0 = any free. Sign in with LIVEHOST_DASHBOARD_TOKEN (or the token printed at start)",
    )
    run.add_argument("--no-dashboard", "--no-preview", dest="preview", action="store_false", default=None)
    run.add_argument("--preview", dest="preview", action="store_true", help=argparse.SUPPRESS)
    run.add_argument("--preview-port", type=int, default=None, help=argparse.SUPPRESS)
    run.add_argument(
        "--simulate-chat",
        action="store_true",
        help="add the built-in chat simulator (simulated viewers ask about the products); "
        "for demos and rehearsals, never for a real audience",
    )
    run.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=None,
        help="where the Coqui voice and the neural lip-sync engine run (default: the persona's; cuda needs a GPU)",
    )
    run.add_argument("--log-level", default="INFO")

    chk = sub.add_parser("check", help="validate persona, products and stream config; exit 2 on errors")
    common(chk)

    ask = sub.add_parser("ask", help="print the answer the host would speak to a viewer's question (after guards)")
    common(ask)
    ask.add_argument("--product", default=None, help="product id the question is about (default: the first)")
    ask.add_argument("--viewer", default=None, help="the viewer's name, to be greeted")
    ask.add_argument("question", help="the viewer's question")

    aud = sub.add_parser("audit", help="the audit log of everything the host said (export it)")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    exp = aud_sub.add_parser("export", help="print the audit log's rows since a time to stdout (CSV or JSONL)")
    exp.add_argument(
        "--since",
        default="24h",
        help="1h, 30m, 2d, 1w ago, or a date/time (2026-12-01, 2026-12-01T08:00:00Z; UTC unless an offset is "
        "given). Default 24h",
    )
    exp.add_argument("--until", default=None, help="same forms as --since; default: now")
    exp.add_argument("--format", dest="fmt", choices=["csv", "jsonl"], default="csv")
    exp.add_argument(
        "--db", default=None, help="the audit database (default: audit.path under recordings_dir of --config)"
    )
    exp.add_argument("--config", default=None, help="stream.yaml whose recordings_dir/audit settings to use")

    from streamer.fleet.cli import add_parser as add_fleet_parser

    add_fleet_parser(sub, _Parser)

    prep = sub.add_parser(
        "prepare-avatar", help="analyse a presenter's clip once for a video avatar (landmarks, idle loop, frames)"
    )
    prep.add_argument("clip", help="the presenter's video (a few minutes; one person, facing the camera)")
    prep.add_argument("-o", "--out", default=None, help="the prepared folder (default: <clip name>.avatar beside it)")
    prep.add_argument(
        "--size", default="1280x720", help="the show's video size the frames are stored for (default 1280x720)"
    )
    voice = sub.add_parser(
        "prepare-voice", help="clone the presenter's voice once from recordings, for an XTTS voice (backend: coqui)"
    )
    voice.add_argument("recordings", nargs="+", help="the presenter's recordings (WAV, FLAC, MP3...; a few sentences+)")
    voice.add_argument("-o", "--out", required=True, help="the prepared voice's folder (voice_dir in the persona)")
    voice.add_argument(
        "--model-dir", default=None, help="the XTTS model folder (default: the --persona's voice.model_dir)"
    )
    voice.add_argument("--persona", default=None, help="persona YAML whose coqui voice names the model")
    voice.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (
        "run",
        "check",
        "ask",
        "prepare-avatar",
        "prepare-voice",
        "audit",
        "fleet",
        "-h",
        "--help",
    ):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    if args.command != "run":
        # Only a show needs a stop to wait until it has started: the other commands stop as Python does.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if early_stop.received:
            return 128 + early_stop.received[0]
    if args.command == "check":
        return _check(args)
    if args.command == "ask":
        return _ask(args)
    if args.command == "prepare-avatar":
        return _prepare_avatar(args)
    if args.command == "prepare-voice":
        return _prepare_voice(args)
    if args.command == "audit":
        return _audit(args)
    if args.command == "fleet":
        from streamer.fleet.cli import main as fleet_main

        return fleet_main(args)
    return _run(args)


def _prepare_avatar(args: argparse.Namespace) -> int:
    """Analyse a clip into a prepared folder; prints what was found as JSON. Exit 2 for a clip that cannot be used."""
    from streamer.avatar.clip import ClipError, prepare_clip, prepared_folder_for
    from streamer.compose.layout import default_avatar_height

    try:
        w, h = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        print(f"error: --size must look like 1280x720, got {args.size!r}", file=sys.stderr)
        return EXIT_CONFIG
    out = args.out or str(prepared_folder_for(args.clip))
    try:
        meta = prepare_clip(args.clip, out, height_px=default_avatar_height(w, h))
    except ClipError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(json.dumps({"prepared": out, **meta}))
    return EXIT_OK


def _prepare_voice(args: argparse.Namespace) -> int:
    """Clone a voice into a prepared folder; prints what was made as JSON. Exit 2 for recordings or a model that
    cannot be used (the message names which)."""
    from streamer.config import CoquiVoiceSettings
    from streamer.loading import ConfigError, load_persona
    from streamer.voice.base import VoiceError
    from streamer.voice.coqui import prepare_voice

    model_dir = args.model_dir
    if model_dir is None:
        persona_path = args.persona or _default("personas/host.yaml")
        try:
            persona, _ = load_persona(persona_path) if persona_path else (None, [])
        except ConfigError as exc:
            _print_problems(exc.problems)
            return EXIT_CONFIG
        voice = persona.voice if persona is not None else None
        if not isinstance(voice, CoquiVoiceSettings):
            print(
                f"error: {persona_path or 'no persona'} has no coqui voice; name the XTTS model with --model-dir",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        model_dir = voice.model_dir
    missing = [r for r in args.recordings if not Path(r).is_file()]
    if missing:
        print(f"error: recording not found: {', '.join(missing)}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        meta = prepare_voice(model_dir, args.recordings, args.out, device=args.device)
    except VoiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(json.dumps({"prepared": args.out, **meta}))
    return EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    """``audit export``: rows since ``--since`` to stdout (UTF-8), streamed; a summary line on stderr. Exit 2 for a
    missing database or a time that cannot be read."""
    import time

    from streamer.audit import AuditError, SinceError, audit_db_path, iter_export, parse_since
    from streamer.loading import ConfigError, load_stream_config

    try:
        config = load_stream_config(args.config) if args.config else StreamConfig()
    except ConfigError as exc:
        _print_problems(exc.problems)
        return EXIT_CONFIG
    path = Path(args.db) if args.db else audit_db_path(config)
    if not path.is_file():
        print(
            f"error: no audit log at {path} (a show writes it there once it has spoken; --db names another file)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    now = time.time()
    try:
        since_s = parse_since(args.since, now_s=now)
        until_s = parse_since(args.until, now_s=now) if args.until else None
    except SinceError as exc:
        print(f"error: --since/--until {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        chunks = iter_export(path, since_s=since_s, until_s=until_s, fmt=args.fmt)
    except AuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    out = sys.stdout.buffer
    try:
        for chunk in chunks:
            out.write(chunk.encode("utf-8"))
        out.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        chunks.close()
    print(f"{chunks.rows} row(s) from {path}", file=sys.stderr)
    return EXIT_OK


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("aiohttp.access", "libav", "onnxruntime"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _paths(args: argparse.Namespace, config: StreamConfig | None) -> tuple[str | None, str | None]:
    persona = args.persona or (config.persona if config else None) or _default("personas/host.yaml")
    products = args.products or (config.products if config else None) or _default("products")
    return persona, products


def _print_problems(problems: list) -> None:
    for p in problems:
        print(f"{'error' if p.severity == 'error' else 'warning'}: {p}", file=sys.stderr)


def _check(args: argparse.Namespace) -> int:
    from streamer.loading import ConfigError, check_all, load_stream_config

    config = None
    if args.config:
        try:
            config = load_stream_config(args.config)
        except ConfigError as exc:
            _print_problems(exc.problems)
            return EXIT_CONFIG
    persona, products = _paths(args, config)
    if persona is None or products is None:
        print("error: no persona or products given and no personas/host.yaml or products/ here", file=sys.stderr)
        return EXIT_CONFIG
    problems = check_all(persona, products, args.config)
    problems += _voice_problems(persona, problems)
    _print_problems(problems)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        print(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)", file=sys.stderr)
        return EXIT_CONFIG
    print(
        f"ok: {persona}, {products}"
        + (f", {args.config}" if args.config else "")
        + (f" ({len(problems)} warning(s))" if problems else "")
    )
    return EXIT_OK


def _voice_problems(persona_path: str, problems: list) -> list:
    """Whether the persona's voice can load and speaks its language, and its avatar's portrait is usable (skipped
    when the persona file has errors)."""
    from streamer.loading import ConfigError, read_persona
    from streamer.voice.check import persona_voice_problems

    if any(p.severity == "error" and p.file == str(persona_path) for p in problems):
        return []
    try:
        persona, _ = read_persona(persona_path)
    except ConfigError:
        return []
    from streamer.avatar.check import persona_avatar_problems

    return persona_voice_problems(persona_path, persona) + persona_avatar_problems(persona_path, persona)


def _ask(args: argparse.Namespace) -> int:
    """One question through the configured brain and the guards, no stream: one spoken sentence per line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from streamer.brain.base import BrainRequest
    from streamer.brain.factory import build_brain
    from streamer.brain.guards import GuardRulesError
    from streamer.brain.llm import LlmConfigError
    from streamer.loading import ConfigError, load_persona, load_stream_config
    from streamer.products.catalog import ProductCatalog
    from streamer.untrusted import clean_untrusted

    try:
        config = load_stream_config(args.config) if args.config else StreamConfig()
        persona_path, products_path = _paths(args, config)
        if persona_path is None or products_path is None:
            raise _UsageError("no --persona/--products given and no personas/host.yaml or products/ here")
        persona, warnings = load_persona(persona_path)
        _print_problems(warnings)
        kit = build_brain(config.brain, persona)
    except ConfigError as exc:
        _print_problems(exc.problems)
        return EXIT_CONFIG
    except (GuardRulesError, LlmConfigError, _UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    async def go() -> int:
        catalog = ProductCatalog(products_path, refresh_s=3600)
        await catalog.refresh()
        products = list(catalog.products)
        for problem in catalog.problems:
            print(f"{'error' if problem.severity == 'error' else 'warning'}: {problem}", file=sys.stderr)
        if not products:
            print(f"error: no valid products in {products_path}", file=sys.stderr)
            return EXIT_CONFIG
        product = products[0]
        if args.product:
            found = catalog.get(args.product)
            if found is None:
                ids = ", ".join(p.id for p in products)
                print(f"error: --product {args.product!r} is not in the catalog (ids: {ids})", file=sys.stderr)
                return EXIT_CONFIG
            product = found
        await asyncio.to_thread(kit.offline.prepare, products)
        request = BrainRequest(
            persona=persona.for_language(persona.reply_language(args.question)),  # as the show answers it
            question=clean_untrusted(args.question),
            viewer=clean_untrusted(args.viewer, 40) if args.viewer else None,
            product=product,
            products=products,
        )
        try:
            async for sentence in kit.stream(request):
                print(sentence, flush=True)
        finally:
            await kit.aclose()
            await catalog.aclose()
        return EXIT_OK

    return asyncio.run(go())


def _run(args: argparse.Namespace) -> int:
    _setup_logging(args.log_level)
    from streamer.app import Channel
    from streamer.launch import LaunchError, apply_overrides, build_channel_spec
    from streamer.loading import ConfigError, load_stream_config

    try:
        config = load_stream_config(args.config) if args.config else StreamConfig()
        try:
            apply_overrides(config, size=args.size, fps=args.fps, simulate_chat=args.simulate_chat)
        except LaunchError as exc:  # the options' own words: --size, --fps
            raise LaunchError(reasons=[f"--{r}" for r in exc.reasons]) from None
        if args.preview_port is not None:
            config.preview.port = args.preview_port
        if args.dashboard is not None:
            config.preview.host, config.preview.port = _host_port(args.dashboard)
        persona_path, products = _paths(args, config)
        spec, warnings = build_channel_spec(
            config,
            persona_path=persona_path,
            products=products,
            outs=args.out,
            duration_s=args.duration,
            dashboard=args.preview,
        )
        spec.device = args.device
        _print_problems(warnings)
    except ConfigError as exc:
        _print_problems(exc.problems)
        return EXIT_CONFIG
    except LaunchError as exc:
        _print_problems(exc.problems)
        for reason in exc.reasons:
            print(f"error: {reason}", file=sys.stderr)
        return EXIT_CONFIG
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    from streamer.dashboard.auth import TokenError
    from streamer.process import bootstrap_process

    bootstrap_process()  # GIL hand-over, malloc arenas, model threads: for the CPUs this process may use
    try:
        show = Channel(spec)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    async def go() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, show.request_stop)
        if early_stop.received:  # asked while the show was loading: it starts, writes its first frames, stops
            show.request_stop()
        code = await show.run()
        if early_stop.installed:  # this process is the show's own: it ends now (see _exit_now)
            _exit_now(code)
        return code

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        return EXIT_OK


class _UsageError(Exception):
    pass


def _exit_now(code: int) -> NoReturn:
    """The show is closed: outputs finished, recordings playable. A worker thread still busy (a model being loaded, a
    sentence being voiced) would hold the interpreter's exit until it ends -- asyncio waits for its executor's
    threads, the interpreter for every pool's -- and its work is no longer needed: end the process now."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` (host 127.0.0.1); ``[::1]:PORT`` for IPv6."""
    m = re.fullmatch(r"(?:\[([^\]]+)\]|([^:\[\]]*)):(\d{1,5})|(\d{1,5})", text.strip())
    if not m:
        raise _UsageError(f"--dashboard {text!r}: expected HOST:PORT like 127.0.0.1:8080")
    host = m.group(1) or m.group(2) or "127.0.0.1"
    port = int(m.group(3) or m.group(4))
    if port > 65535:
        raise _UsageError(f"--dashboard {text!r}: port must be 0-65535")
    return host, port


if __name__ == "__main__":
    sys.exit(main())
