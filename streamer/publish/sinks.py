"""Outputs: every target muxes copies of the one encode, in its own writer thread, and reconnects on failure.

A target never slows the show: the media thread only *offers* packets; each sink keeps at most
``max_queue_s`` of media queued and, past that, drops the backlog and resumes at the next keyframe.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import errno
import logging
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import av

from streamer.backoff import ReconnectPolicy
from streamer.loading import expand_env, redact_url
from streamer.publish.aigc import HashingFile, finish_recording
from streamer.publish.encoder import BROADCAST, EncodedPacket, EncoderProfile
from streamer.publish.rtmp import RtmpNoAnswer, RtmpPublisher

log = logging.getLogger(__name__)


class TargetError(ValueError):
    """An output target that cannot be used as given (bad scheme, missing env var). Never contains secrets."""


def redact(url: str) -> str:
    """``rtmp://host/app/KEY`` -> ``rtmp://host/app/****`` (a password in ``user:pw@`` too, see
    :func:`~streamer.loading.redact_url`), without the query string; file paths unchanged. Safe for logs, UI and
    errors."""
    return redact_url(url).split("?", 1)[0]


@dataclass(frozen=True, slots=True)
class Target:
    """Where one copy of the show goes. ``url`` may hold a stream key: use :attr:`display` in any message."""

    url: str
    kind: str  # "rtmp" | "file" | "whip"
    container_format: str  # "flv" | "mp4" | "webrtc"
    platform: str = "custom"
    """Whose rules apply (``#platform=NAME`` on the ``--out`` value; see :mod:`streamer.publish.platforms`)."""

    @property
    def display(self) -> str:
        shown = redact(self.url)
        if self.kind == "whip":  # a WHIP path may carry a stream key (``/live/<key>``): shown like RTMP's
            scheme, _, rest = shown.partition("://")
            host, _, path = rest.partition("/")
            app, _, key = path.partition("/")
            shown = f"{scheme}://{host}/{app}" + ("/****" if key else "")
        return shown

    @property
    def is_network(self) -> bool:
        return self.kind in ("rtmp", "whip")


def parse_target(spec: str, *, env: dict[str, str] | None = None, platforms: Collection[str] | None = None) -> Target:
    """Turn an ``--out`` value into a :class:`Target`, replacing ``${VAR}`` from the environment. ``platforms``: the
    platform names a ``#platform=NAME`` may use (default: the shipped ones; pass the loaded rules' names when the
    operator has a ``platform_rules`` file)."""
    env = dict(os.environ) if env is None else env

    url, missing = expand_env(spec.strip(), env)
    if missing:
        raise TargetError(f"output {redact(spec)!r} uses ${{{missing[0]}}} but that environment variable is not set")
    url, platform = _platform_fragment(url, spec, platforms)
    target = _parse_url(url, spec)
    return dataclasses.replace(target, platform=platform) if platform != target.platform else target


def _platform_fragment(url: str, spec: str, platforms: Collection[str] | None) -> tuple[str, str]:
    """``URL#platform=NAME`` -> (URL, NAME); a URL without it -> (URL, "custom")."""
    from streamer.publish.platforms import DEFAULT_PLATFORM, load_platforms

    head, sep, fragment = url.rpartition("#platform=")
    if not sep:
        return url, DEFAULT_PLATFORM
    known = list(platforms) if platforms is not None else list(load_platforms())
    name = fragment.strip().lower()
    if name not in known:
        raise TargetError(f"output {redact(spec)!r}: unknown platform {fragment!r} (known: {', '.join(known)})")
    return head, name


def _parse_url(url: str, spec: str) -> Target:
    low = url.lower()
    if low.startswith(("rtmp://", "rtmps://")):
        if not re.match(r"^rtmps?://[^/\s]+/[^/\s]+", url, re.IGNORECASE):
            raise TargetError(f"output {redact(spec)!r}: expected rtmp://host[:port]/app/stream-key")
        return Target(url=url, kind="rtmp", container_format="flv")
    if low.startswith(("whip+http://", "whip+https://")):
        if not re.match(r"^whip\+https?://[^/\s]+", url, re.IGNORECASE):
            raise TargetError(f"output {redact(spec)!r}: expected whip+https://host/path")
        return Target(url=url[len("whip+") :], kind="whip", container_format="webrtc")
    if re.match(r"^[a-z][a-z0-9+.-]*://", low):
        raise TargetError(
            f"output {redact(spec)!r}: only rtmp://, rtmps://, whip+https:// or a .flv/.mp4 file path are supported"
        )
    if low.endswith(".flv"):
        return Target(url=url, kind="file", container_format="flv")
    if low.endswith(".mp4"):
        return Target(url=url, kind="file", container_format="mp4")
    raise TargetError(f"output {spec!r}: a file output must end in .flv or .mp4")


class SinkState(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    BACKOFF = "backoff"
    DISK_FULL = "disk full"
    """A recording whose disk is full: it waits for free space (the live outputs go on), then starts a new part."""
    STOPPED = "stopped"


_DRAIN = object()
_ROTATE = object()

#: A recording stopped by a full disk starts again (a new part file) once this much is free.
MIN_FREE_BYTES = 64 * 1024 * 1024

#: How often a recording on a full disk looks for free space (seconds).
DISK_FULL_POLL_S = 5.0

#: A network target whose server refused the connection (nothing listening: a restart, a crash) is tried again at
#: least this often: an attempt that nothing answers costs nothing, and publishing must resume soon after the server.
PROBE_RETRY_MAX_S = 1.0


def _is_disk_full(exc: BaseException) -> bool:
    return (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or "No space left" in str(exc)


class MuxSink:
    """One target: a bounded packet queue, a writer thread, reconnect with backoff + jitter.

    ``on_connected`` runs (in the writer thread) after each successful (re)connect, told whether it is a reconnect:
    the show asks the encoder for a keyframe and shows the AI notice again. The first packet written after a
    (re)connect is a video keyframe. An :class:`~streamer.publish.outputs.Output` of the
    :data:`~streamer.publish.encoder.BROADCAST` encode (FLV and MP4 want the parameter sets in the extradata).

    ``metadata``: container tags written each time the muxer opens (FLV ``onMetaData``, so RTMP too; MP4 ``mdta``
    tags): the AIGC implicit label of :mod:`streamer.publish.aigc`. With it, a recording (a file target) also gets
    its ``<file>.aigc.json`` sidecar (SHA-256 of the closed file) each time its muxer closes, written by this
    sink's writer thread.
    """

    profile: EncoderProfile = BROADCAST

    def __init__(
        self,
        target: Target,
        *,
        video_template: av.stream.Stream,
        audio_template: av.stream.Stream,
        on_connected: Callable[[MuxSink, bool], float | None] | None = None,
        max_queue_s: float = 4.0,
        max_backoff_s: float = 30.0,
        stable_after_s: float = 10.0,
        now: Callable[[], float] = time.monotonic,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.target = target
        self.metadata = dict(metadata or {})
        self.sidecar: Path | None = None
        """The last AIGC sidecar written (a recording with ``metadata``)."""
        self._vt = video_template
        self._at = audio_template
        self._on_connected = on_connected
        self._max_queue_s = max_queue_s
        self._reconnect = ReconnectPolicy(now=now, max_s=max_backoff_s, stable_after_s=stable_after_s)
        self._now = now
        self.connect_timeout_s = 5.0
        """How long an RTMP server may take to connect, shake hands and accept the publishing, in all (see
        :class:`~streamer.publish.rtmp.RtmpPublisher`)."""
        self.rotate_after_s: float | None = None
        """A network target whose platform caps a broadcast's length: after this long live, at the next keyframe,
        the broadcast is ended cleanly and a new one started at once (see :mod:`streamer.publish.platforms`)."""
        self.rotations = 0
        self._queue: collections.deque[EncodedPacket | object] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._draining = False
        self._resync = True  # wait for a keyframe before writing
        self._start_after_s: float | None = None
        """This session starts on the first keyframe after this media time (the show's AI notice); None: any."""
        self.part = 0
        """A recording's file part: 0 writes the target's path; after a failure each new session writes
        ``NAME-partN.EXT`` beside it, so what was recorded is never overwritten."""
        self.paths: list[str] = []
        """Every file this recording wrote (its parts, in order)."""
        self.stall_s = 5.0
        """A network connection whose server acknowledges nothing more for this long, with data waiting, is broken
        and reconnected (a server that stopped reading: see :mod:`streamer.publish.stall`)."""
        self.stalls = 0
        self._publisher: RtmpPublisher | None = None
        """The network session's connection, while there is one."""
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self.state = SinkState.CONNECTING
        self.connects = 0
        self.failures = 0
        self.dropped_packets = 0
        self.packets_written = 0
        self.bytes_written = 0
        self.last_error: str | None = None
        self.busy_since: float | None = None
        self.want_keyframe: Callable[[], None] | None = None

    @property
    def name(self) -> str:
        return self.target.display

    @property
    def live(self) -> bool:
        return self.state is SinkState.LIVE

    # ---- called by the media thread ------------------------------------------------------------------------

    def offer(self, packets: list[EncodedPacket]) -> None:
        """Queue packets without blocking. Past ``max_queue_s`` of backlog, drop it and resync at a keyframe."""
        if not packets or self._draining:
            return
        with self._cond:
            if self.state is not SinkState.LIVE:
                # Nobody to write to: keep only what follows the newest keyframe, so a reconnect starts fresh.
                for p in packets:
                    if p.kind == "video" and p.keyframe:
                        self._queue.clear()
                    self._queue.append(p)
                self._trim_locked()
            else:
                self._queue.extend(packets)
                self._trim_locked()
            self._cond.notify()

    def _trim_locked(self) -> None:
        first = next((p for p in self._queue if isinstance(p, EncodedPacket)), None)
        last = next((p for p in reversed(self._queue) if isinstance(p, EncodedPacket)), None)
        if first is None or last is None:
            return
        if last.time_s - first.time_s > self._max_queue_s:
            self.dropped_packets += len(self._queue)
            self._queue.clear()
            self._resync = True
            if self.want_keyframe is not None:
                self.want_keyframe()

    # ---- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"sink:{self.target.display}", daemon=True)
        self._thread.start()
        if self.target.is_network and sys.platform.startswith("linux"):
            name = f"sink-watch:{self.target.display}"
            self._watchdog = threading.Thread(target=self._watch, name=name, daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        """Breaks this target's connection when its server stops taking data (a write blocks until the buffers
        drain, which for a server that stopped reading is never)."""
        from streamer.publish.stall import AckWatch

        watch = AckWatch(stall_s=self.stall_s)
        while not self._stop.wait(min(0.25, self.stall_s / 8)):  # a getsockopt and an ioctl: cheap
            watch.stall_s = self.stall_s
            publisher = self._publisher
            if self.state is not SinkState.LIVE or publisher is None:
                continue
            if watch.stalled(publisher.fileno()):
                self.stalls += 1
                log.warning(
                    "output %s: the server took nothing for %.0f s; dropping the connection and reconnecting",
                    self.target.display,
                    self.stall_s,
                )
                publisher.abort()

    def close(self, *, drain: bool, timeout_s: float = 5.0) -> bool:
        """Stop the writer. ``drain``: write what is queued and finish the container cleanly first (when it is
        connected; a target that is down, or waiting to reconnect, stops at once).

        Returns True when the writer thread ended within ``timeout_s``.
        """
        with self._cond:
            self._draining = True
            if drain and self.state in (SinkState.LIVE, SinkState.CONNECTING):
                self._queue.append(_DRAIN)
            else:
                # Not connected (down, waiting to reconnect): there is nothing to drain into; the wait ends now.
                self._stop.set()
            self._cond.notify()
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._stop.set()
            with self._cond:
                self._cond.notify()
            self._thread.join(1.0)
        alive = self._thread.is_alive()
        if self._watchdog is not None and not alive:
            self._stop.set()  # the writer is done: its watchdog too
            self._watchdog.join(1.0)
        if alive:
            log.error("output %s: writer did not stop within %.1f s", self.target.display, timeout_s)
        return not alive

    # ---- writer thread --------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self.state = SinkState.CONNECTING
            self._reconnect.attempting()
            try:
                finished = self._session()
                if finished is _ROTATE:
                    self.rotations += 1
                    log.info(
                        "output %s: broadcast %d ended before the platform's cap; starting the next",
                        self.target.display,
                        self.rotations,
                    )
                    continue
            except Exception as exc:  # any FFmpeg / OS error: the target is down, the show goes on
                self.failures += 1
                self.last_error = _scrub(str(exc), self.target)
                log.warning("output %s failed: %s", self.target.display, self.last_error)
                if self.target.kind == "file" and _is_disk_full(exc):
                    self._wait_for_disk_space()
                    continue
                if isinstance(exc, RtmpNoAnswer) and not self._stop.is_set() and not self._draining:
                    self.state = SinkState.BACKOFF
                    self._reconnect.next_delay()  # counted, but the wait is short: an unanswered try costs nothing
                    delay = min(PROBE_RETRY_MAX_S, self._reconnect.backoff.max_s)
                    log.info("output %s: reconnecting in %.1f s (no answer)", self.target.display, delay)
                    if self._stop.wait(delay):
                        break
                    continue
                finished = False
            if finished or self._stop.is_set() or self._draining:  # closing: no reconnect
                break
            self.state = SinkState.BACKOFF
            delay = self._reconnect.next_delay()
            log.info("output %s: reconnecting in %.1f s", self.target.display, delay)
            if self._stop.wait(delay):
                break
            if self.target.kind == "file":
                # A file that failed to open will not get better by itself; keep trying, but slowly.
                self._reconnect.backoff.at_least(4)
        self.state = SinkState.STOPPED

    def _wait_for_disk_space(self) -> None:
        """The recording's disk is full: say so, and wait (without spinning) until there is room for a new part."""
        self.state = SinkState.DISK_FULL
        folder = Path(self.target.url).parent
        log.error(
            "output %s: the disk is full; the recording stops here (the live outputs go on) and starts a new part"
            " once %d MB are free",
            self.target.display,
            MIN_FREE_BYTES // 2**20,
        )
        with self._cond:
            self._queue.clear()  # nothing to write to; a new part starts on a fresh keyframe
        while not self._stop.is_set() and not self._draining:
            try:
                if shutil.disk_usage(folder).free >= MIN_FREE_BYTES:
                    log.info("output %s: disk space is back; starting a new part", self.target.display)
                    return
            except OSError:
                pass
            self._stop.wait(DISK_FULL_POLL_S)

    def _file_path(self) -> str:
        """This session's file: the target's path, then (after a failure) a new part beside it."""
        if self.connects == 0 and self.failures == 0:
            return self.target.url
        if self.part == 0 and not self.paths:
            return self.target.url  # the first file never opened: nothing to keep
        self.part += 1
        path = Path(self.target.url)
        return str(path.with_name(f"{path.stem}-part{self.part + 1}{path.suffix}"))

    def _session(self) -> bool | object:
        """One connection. Returns True when drained to the end (clean finish), :data:`_ROTATE` when the broadcast
        reached its planned length (the next one starts with the keyframe that ended it)."""
        path = self.target.url
        if self.target.kind == "file":
            path = self._file_path()
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        options = {}
        publisher: RtmpPublisher | None = None
        if self.target.kind == "rtmp":
            # Our own connection, not FFmpeg's: FFmpeg would connect holding the GIL with no deadline, and a server
            # that accepts and never answers would freeze the whole process, pictures included. FFmpeg only muxes
            # the FLV, into the publisher (see streamer.publish.rtmp); every packet is sent as it is muxed.
            publisher = RtmpPublisher(self.target.url, timeout_s=self.connect_timeout_s)
            self.busy_since = time.monotonic()
            try:
                publisher.connect()
            finally:
                self.busy_since = None
            self._publisher = publisher
            options["flvflags"] = "no_duration_filesize"
            options["flush_packets"] = "1"
        if self.target.container_format == "mp4":
            # Fragmented MP4: a recording stays playable even if the process is killed. use_metadata_tags: the
            # muxer keeps our own keys (the AIGC label), not only the iTunes ones.
            options["movflags"] = "frag_keyframe+empty_moov+default_base_moof+use_metadata_tags"
        recording: HashingFile | None = None
        if self.target.kind == "file":
            if self.target.container_format == "flv":
                # No seek back at the end to patch duration/filesize: the file is written once, in order, so its
                # SHA-256 is ready when it closes (see streamer.publish.aigc).
                options["flvflags"] = "no_duration_filesize"
            recording = HashingFile(path)
            self.paths.append(path)
        try:
            container = av.open(
                recording if recording is not None else publisher if publisher is not None else self.target.url,
                "w",
                format=self.target.container_format,
                options=options,
            )
        except BaseException:
            if recording is not None:
                recording.close()
            if publisher is not None:
                self._publisher = None
                publisher.close()
            raise
        opened_s: float | None = None
        tags = self.metadata  # this session's (the show may give the next session new ones)
        try:
            vs = container.add_stream_from_template(self._vt)
            aus = container.add_stream_from_template(self._at)
            for key, value in tags.items():
                container.metadata[key] = value
            self.busy_since = time.monotonic()
            container.start_encoding()  # connects (RTMP handshake) and writes the header
            self.busy_since = None
            opened_s = time.time()
            self.connects += 1
            self.state = SinkState.LIVE
            self._reconnect.connected()
            live_since = self._now()
            log.info("output %s: live", self.target.display)
            with self._cond:
                self._resync = True
            self._start_after_s = None
            if self._on_connected is not None:
                gate = self._on_connected(self, self.connects > 1)
                self._start_after_s = gate if isinstance(gate, int | float) else None
            # A network session's timestamps start at 0 on its first keyframe (a platform sees a clean new
            # broadcast); a recording keeps the show's media time.
            offset_s: float | None = None if self.target.is_network else 0.0
            while True:
                item = self._next_item()
                if item is None:
                    return False  # stopped without draining
                if item is _DRAIN:
                    return True
                assert isinstance(item, EncodedPacket)
                if self._resync:
                    if not (item.kind == "video" and item.keyframe):
                        continue
                    if self._start_after_s is not None and item.time_s <= self._start_after_s:
                        continue  # a keyframe from before the AI notice: the platform's first picture shows it
                    self._resync = False
                    self._start_after_s = None
                    if offset_s is None:
                        offset_s = item.time_s
                elif (
                    self.rotate_after_s is not None
                    and item.kind == "video"
                    and item.keyframe
                    and self._now() - live_since >= self.rotate_after_s
                ):
                    with self._cond:
                        self._queue.appendleft(item)  # the next broadcast starts on this keyframe
                        self._resync = True
                    return _ROTATE
                stream = vs if item.kind == "video" else aus
                if offset_s:
                    shift = round(offset_s / item.time_base)
                    if item.pts - shift < 0 or item.dts - shift < 0:
                        continue  # audio from just before the session's first picture
                    item = dataclasses.replace(item, pts=item.pts - shift, dts=item.dts - shift)
                self.busy_since = time.monotonic()
                container.mux(item.to_av(stream))
                self.busy_since = None
                self.packets_written += 1
                self.bytes_written += len(item.data)
        finally:
            self.busy_since = None
            try:
                container.close()
            except Exception as exc:
                log.warning("output %s: error while closing: %s", self.target.display, _scrub(str(exc), self.target))
            if publisher is not None:
                self._publisher = None
                publisher.close()
            if recording is not None:
                recording.close()
                if opened_s is not None and tags:  # a recording that never opened gets no sidecar
                    self.sidecar = finish_recording(
                        recording, tags, container_format=self.target.container_format, opened_s=opened_s
                    )

    def _next_item(self) -> EncodedPacket | object | None:
        with self._cond:
            while not self._queue:
                if self._stop.is_set():
                    return None
                self._cond.wait(0.5)
            if self._stop.is_set():
                return None
            return self._queue.popleft()

    def stats(self) -> dict[str, object]:
        return {
            "name": self.target.display,
            "target": self.target.display,
            "state": self.state.value,
            "connects": self.connects,
            "failures": self.failures,
            "dropped_packets": self.dropped_packets,
            "packets_written": self.packets_written,
            "bytes_written": self.bytes_written,
            "last_error": self.last_error,
            "stalled_s": round(time.monotonic() - self.busy_since, 1) if self.busy_since else 0.0,
            **({"parts": len(self.paths)} if self.target.kind == "file" else {"stalls": self.stalls}),
        }


def _scrub(message: str, target: Target) -> str:
    """Remove the target's URL (and its key) from an error message."""
    out = message.replace(target.url, target.display)
    key = target.url.rsplit("/", 1)[-1] if target.is_network else ""
    if key and len(key) >= 4:
        out = out.replace(key, "****")
    return out
