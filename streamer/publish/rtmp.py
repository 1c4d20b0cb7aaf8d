"""RTMP publishing over a socket of our own: FFmpeg muxes the FLV, this module carries it.

Why not FFmpeg's own RTMP client: PyAV opens it with ``avio_open`` while holding the GIL, with no options and no
interrupt callback, so a server that accepts the TCP connection and then stalls in the handshake or the ``connect``
exchange freezes the *whole process* -- the pictures, the recordings, the preview, the dashboard -- for as long as
the server likes (measured: over 60 s, no other thread ran). Here every step has a deadline and every wait on the
network releases the GIL:

* :class:`RtmpPublisher` connects (TCP, TLS for ``rtmps://``), does the RTMP handshake (C0/C1 -> S0/S1/S2 -> C2),
  and the publishing exchange an encoder like OBS or FFmpeg does: ``connect`` (app, tcUrl), ``releaseStream``,
  ``FCPublish``, ``createStream``, ``publish(name, "live")``, waiting for ``NetStream.Publish.Start``;
* it is then the *file* PyAV's FLV muxer writes to: :meth:`RtmpPublisher.write` takes the FLV byte stream, cuts it
  into tags (the header and the previous-tag sizes are dropped), and sends each tag as one RTMP message (video on
  chunk stream 6, audio on 4, script data as ``@setDataFrame``) with its FLV timestamp;
* between writes it reads what the server sends: chunk size and acknowledgement-window changes, pings (answered:
  nginx-rtmp drops a publisher that does not answer), and ``onStatus`` errors (a server that ends the publishing
  ends the session).

The socket's own file descriptor is known, so a server that stops reading is found by
:class:`streamer.publish.stall.AckWatch` and the connection shut under a blocked write (:meth:`abort`).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: The chunk size this side sends with (announced right after the handshake; the protocol's default is 128).
OUT_CHUNK_SIZE = 4096
#: How much of our own send queue the kernel may hold: a stalled server fills this, and the stall watch sees it.
SEND_BUFFER_BYTES = 512 * 1024

# Message types (RTMP spec, section 5.4 and 7.1).
_SET_CHUNK_SIZE, _ABORT, _ACK, _USER_CONTROL, _WINDOW_ACK_SIZE, _SET_PEER_BW = 1, 2, 3, 4, 5, 6
_AUDIO, _VIDEO, _DATA_AMF0, _COMMAND_AMF0 = 8, 9, 18, 20
# Chunk streams this side uses.
_CS_CONTROL, _CS_COMMAND, _CS_AUDIO, _CS_DATA, _CS_VIDEO = 2, 3, 4, 5, 6
_PING_REQUEST, _PING_RESPONSE = 6, 7


class RtmpError(ConnectionError):
    """The server refused or broke the publishing session. Never contains the stream key."""


class RtmpNoAnswer(RtmpError):
    """Nothing answered at the address (refused, unreachable, or silent within the deadline): a restart, a crash.
    Cheap to try again soon."""


@dataclass(frozen=True, slots=True)
class RtmpUrl:
    """``rtmp[s]://host[:port]/app[/more]/name[?query]``: the last path element (with its query) is the stream
    name, everything before it the application (as FFmpeg and OBS split it)."""

    host: str
    port: int
    secure: bool
    app: str
    name: str

    @property
    def tc_url(self) -> str:
        scheme = "rtmps" if self.secure else "rtmp"
        default = 443 if self.secure else 1935
        where = self.host if self.port == default else f"{self.host}:{self.port}"
        return f"{scheme}://{where}/{self.app}"


def parse_rtmp_url(url: str) -> RtmpUrl:
    parts = urlsplit(url)
    secure = parts.scheme.lower() == "rtmps"
    if parts.scheme.lower() not in ("rtmp", "rtmps") or not parts.hostname:
        raise RtmpError("not an rtmp:// or rtmps:// address")
    path = parts.path.strip("/")
    app, _, name = path.rpartition("/")
    if not app or not name:
        raise RtmpError("an RTMP address needs an application and a stream name (rtmp://host/app/name)")
    if parts.query:
        name = f"{name}?{parts.query}"
    return RtmpUrl(parts.hostname, parts.port or (443 if secure else 1935), secure, app, name)


# ---- AMF0 ------------------------------------------------------------------------------------------------------


class _Ecma(dict[str, Any]):
    """An AMF0 ECMA array (as ``onMetaData`` is sent), not an object."""


def amf0(value: Any) -> bytes:
    """One AMF0 value: numbers, booleans, strings, None (null), dicts (objects; :class:`_Ecma` for ECMA arrays)."""
    if value is None:
        return b"\x05"
    if isinstance(value, bool):
        return b"\x01" + (b"\x01" if value else b"\x00")
    if isinstance(value, int | float):
        return b"\x00" + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode()
        if len(raw) > 0xFFFF:
            return b"\x0c" + struct.pack(">I", len(raw)) + raw
        return b"\x02" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, dict):
        body = b"".join(struct.pack(">H", len(k.encode())) + k.encode() + amf0(v) for k, v in value.items())
        head = b"\x08" + struct.pack(">I", len(value)) if isinstance(value, _Ecma) else b"\x03"
        return head + body + b"\x00\x00\x09"
    raise TypeError(f"no AMF0 form for {type(value).__name__}")


def amf0_values(data: bytes) -> list[Any]:
    """Every AMF0 value in ``data``, in order (what a command message holds). Raises ValueError on bad data."""
    out: list[Any] = []
    pos = 0
    while pos < len(data):
        value, pos = _amf0_one(data, pos, 0)
        out.append(value)
    return out


def _amf0_one(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > 32:
        raise ValueError("AMF0 nested too deep")
    try:
        marker = data[pos]
        pos += 1
        if marker == 0x00:
            return struct.unpack_from(">d", data, pos)[0], pos + 8
        if marker == 0x01:
            return data[pos] != 0, pos + 1
        if marker in (0x02, 0x0C):
            width = 2 if marker == 0x02 else 4
            (n,) = struct.unpack_from(">H" if width == 2 else ">I", data, pos)
            if pos + width + n > len(data):
                raise ValueError("truncated AMF0 string")
            return data[pos + width : pos + width + n].decode("utf-8", "replace"), pos + width + n
        if marker in (0x05, 0x06):
            return None, pos
        if marker in (0x03, 0x08):
            if marker == 0x08:
                pos += 4  # the ECMA array's count (advisory)
            obj: dict[str, Any] = {}
            while True:
                (n,) = struct.unpack_from(">H", data, pos)
                key = data[pos + 2 : pos + 2 + n].decode("utf-8", "replace")
                pos += 2 + n
                if n == 0 and data[pos] == 0x09:
                    return obj, pos + 1
                obj[key], pos = _amf0_one(data, pos, depth + 1)
        if marker == 0x0A:
            (n,) = struct.unpack_from(">I", data, pos)
            pos += 4
            items = []
            for _ in range(n):
                item, pos = _amf0_one(data, pos, depth + 1)
                items.append(item)
            return items, pos
    except (IndexError, struct.error) as exc:
        raise ValueError("truncated AMF0") from exc
    raise ValueError(f"unsupported AMF0 marker {marker:#x}")


# ---- chunk stream ----------------------------------------------------------------------------------------------


def chunk_message(
    csid: int, msg_type: int, stream_id: int, timestamp_ms: int, payload: bytes, chunk_size: int
) -> bytes:
    """One message as chunks: a type-0 header (absolute timestamp), then type-3 continuations."""
    ts = timestamp_ms & 0xFFFFFFFF
    extended = ts >= 0xFFFFFF
    basic = bytes([csid]) if csid < 64 else b"\x00" + bytes([csid - 64])
    header = (
        basic
        + (0xFFFFFF if extended else ts).to_bytes(3, "big")
        + len(payload).to_bytes(3, "big")
        + bytes([msg_type])
        + struct.pack("<I", stream_id)
    )
    ext = struct.pack(">I", ts) if extended else b""
    parts = [header, ext, payload[:chunk_size]]
    cont = bytes([0xC0 | csid]) if csid < 64 else b"\xc0" + bytes([csid - 64])
    for i in range(chunk_size, len(payload), chunk_size):
        parts += [cont, ext, payload[i : i + chunk_size]]
    return b"".join(parts)


@dataclass(slots=True)
class _InStream:
    msg_type: int = 0
    length: int = 0
    stream_id: int = 0
    extended: bool = False
    partial: bytearray | None = None


_MORE = object()
"""One chunk consumed, its message not complete yet."""


class ChunkReader:
    """Reassembles the server's messages from its chunk stream (any chunk size, header types 0-3). Timestamps are
    read past, not kept: nothing the server sends a publisher needs them."""

    def __init__(self) -> None:
        self.chunk_size = 128
        self._buf = bytearray()
        self._streams: dict[int, _InStream] = {}
        self.received = 0

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """Add bytes; returns the complete messages as (type, stream id, payload)."""
        self._buf += data
        self.received += len(data)
        out: list[tuple[int, int, bytes]] = []
        while True:
            got = self._chunk()
            if got is None:
                return out
            if got is _MORE:
                continue
            assert isinstance(got, tuple)
            if got[0] == _SET_CHUNK_SIZE and len(got[2]) >= 4:
                self.chunk_size = max(1, struct.unpack(">I", got[2][:4])[0] & 0x7FFFFFFF)
            out.append(got)

    def _chunk(self) -> tuple[int, int, bytes] | object | None:
        """One chunk off the buffer: its completed message, :data:`_MORE`, or None (not all of it is here yet; the
        buffer is left as it was)."""
        buf = self._buf
        if not buf:
            return None
        fmt, csid, pos = buf[0] >> 6, buf[0] & 0x3F, 1
        if csid == 0:
            if len(buf) < 2:
                return None
            csid, pos = buf[1] + 64, 2
        elif csid == 1:
            if len(buf) < 3:
                return None
            csid, pos = buf[1] + 64 + buf[2] * 256, 3
        need = (11, 7, 3, 0)[fmt]
        if len(buf) < pos + need:
            return None
        st = self._streams.get(csid) or _InStream()
        extended, length, msg_type, stream_id = st.extended, st.length, st.msg_type, st.stream_id
        if fmt <= 2:
            extended = int.from_bytes(buf[pos : pos + 3], "big") == 0xFFFFFF
            if fmt <= 1:
                length = int.from_bytes(buf[pos + 3 : pos + 6], "big")
                msg_type = buf[pos + 6]
            if fmt == 0:
                stream_id = struct.unpack_from("<I", buf, pos + 7)[0]
        pos += need + (4 if extended else 0)
        have = len(st.partial) if st.partial is not None else 0
        take = min(self.chunk_size, length - have)
        if len(buf) < pos + take:
            return None
        st.extended, st.length, st.msg_type, st.stream_id = extended, length, msg_type, stream_id
        self._streams[csid] = st
        if st.partial is None:
            st.partial = bytearray()
        st.partial += buf[pos : pos + take]
        del buf[: pos + take]
        if len(st.partial) < st.length:
            return _MORE
        payload, st.partial = bytes(st.partial), None
        return st.msg_type, st.stream_id, payload


# ---- the publisher ---------------------------------------------------------------------------------------------


class RtmpPublisher:
    """One publishing session; see the module docstring. ``write``/``close`` are PyAV's file interface (called on
    the sink's writer thread); :meth:`abort` and :meth:`fileno` may be called from any thread."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, write_timeout_s: float = 30.0) -> None:
        self.url = parse_rtmp_url(url)
        self.timeout_s = timeout_s
        self.write_timeout_s = write_timeout_s
        """The longest one write may block (a stall is normally found sooner, by the stall watch)."""
        self._sock: socket.socket | None = None
        self._reader = ChunkReader()
        self._stream_id = 0
        self._txn = 0
        self._flv = bytearray()
        self._flv_header_done = False
        self._window = 2_500_000
        self._acked_at = 0
        self._closed = False
        self._lock = threading.Lock()
        self.messages_sent = 0
        self.bytes_sent = 0
        self.pings_answered = 0

    # ---- connecting ------------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect and start publishing, within ``timeout_s`` in all. Raises :class:`RtmpNoAnswer` when nothing
        answers, :class:`RtmpError` when the server refuses (a bad key, a name in use), OSError otherwise."""
        deadline = time.monotonic() + self.timeout_s
        u = self.url
        try:
            raw = socket.create_connection((u.host, u.port), timeout=self.timeout_s)
        except OSError as exc:
            raise RtmpNoAnswer(f"no answer from {u.host}:{u.port} ({exc.strerror or type(exc).__name__})") from None
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
            sock: socket.socket = raw
            if u.secure:
                raw.settimeout(self._left(deadline))
                sock = ssl.create_default_context().wrap_socket(raw, server_hostname=u.host)
            with self._lock:
                self._sock = sock
            self._handshake(deadline)
            self._send(_CS_CONTROL, _SET_CHUNK_SIZE, 0, 0, struct.pack(">I", OUT_CHUNK_SIZE), chunk_size=128)
            self._command(
                "connect",
                {
                    "app": u.app,
                    "type": "nonprivate",
                    "flashVer": "FMLE/3.0 (compatible; livehost)",
                    "tcUrl": u.tc_url,
                },
            )
            self._await_result(1, deadline, "connect")
            self._command("releaseStream", None, u.name)
            self._command("FCPublish", None, u.name)
            self._command("createStream", None)
            result = self._await_result(self._txn, deadline, "createStream")
            self._stream_id = int(result[3]) if len(result) > 3 and isinstance(result[3], float) else 1
            self._command("publish", None, u.name, "live", stream_id=self._stream_id, csid=_CS_AUDIO)
            self._await_status("NetStream.Publish.Start", deadline)
            sock.settimeout(self.write_timeout_s)
        except BaseException:
            self._close_socket()
            raise

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RtmpNoAnswer("the RTMP server did not answer in time")
        return left

    def _recv_exactly(self, n: int, deadline: float) -> bytes:
        sock = self._require()
        out = bytearray()
        while len(out) < n:
            sock.settimeout(self._left(deadline))
            try:
                got = sock.recv(n - len(out))
            except TimeoutError:
                raise RtmpNoAnswer("the RTMP server did not answer in time") from None
            if not got:
                raise RtmpError("the RTMP server closed the connection")
            out += got
        return bytes(out)

    def _handshake(self, deadline: float) -> None:
        sock = self._require()
        c1 = struct.pack(">II", int(time.monotonic() * 1000) & 0xFFFFFFFF, 0) + os.urandom(1528)
        sock.settimeout(self._left(deadline))
        sock.sendall(b"\x03" + c1)
        s0 = self._recv_exactly(1, deadline)
        if s0 != b"\x03":
            raise RtmpError(f"not an RTMP server (it answered {s0!r} to the handshake)")
        s1 = self._recv_exactly(1536, deadline)
        sock.settimeout(self._left(deadline))
        sock.sendall(s1)  # C2: S1 echoed
        self._recv_exactly(1536, deadline)  # S2

    def _command(self, name: str, obj: Any, *args: Any, stream_id: int = 0, csid: int = _CS_COMMAND) -> None:
        self._txn += 1
        payload = amf0(name) + amf0(float(self._txn)) + amf0(obj) + b"".join(amf0(a) for a in args)
        self._send(csid, _COMMAND_AMF0, stream_id, 0, payload)

    def _await(self, deadline: float) -> list[tuple[int, int, bytes]]:
        sock = self._require()
        sock.settimeout(self._left(deadline))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise RtmpNoAnswer("the RTMP server did not answer in time") from None
        if not data:
            raise RtmpError("the RTMP server closed the connection")
        return self._handle(self._reader.feed(data))

    def _await_result(self, txn: int, deadline: float, what: str) -> list[Any]:
        while True:
            for values in self._commands(self._await(deadline)):
                if len(values) >= 2 and values[1] == float(txn):
                    if values[0] == "_result":
                        return values
                    if values[0] == "_error":
                        raise RtmpError(f"the RTMP server refused {what}: {_describe(values)}")

    def _await_status(self, code: str, deadline: float) -> None:
        while True:
            for values in self._commands(self._await(deadline)):
                if values and values[0] == "onStatus":
                    info = values[3] if len(values) > 3 and isinstance(values[3], dict) else {}
                    if info.get("code") == code:
                        return
                    if info.get("level") == "error":
                        raise RtmpError(f"the RTMP server refused to publish: {_describe(values)}")

    @staticmethod
    def _commands(messages: list[tuple[int, int, bytes]]) -> list[list[Any]]:
        out = []
        for msg_type, _sid, payload in messages:
            if msg_type == _COMMAND_AMF0:
                try:
                    out.append(amf0_values(payload))
                except ValueError:
                    continue
        return out

    def _handle(self, messages: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
        """Protocol housekeeping for the server's messages (pings, window); returns them all."""
        for msg_type, _sid, payload in messages:
            if msg_type == _USER_CONTROL and len(payload) >= 6 and struct.unpack(">H", payload[:2])[0] == _PING_REQUEST:
                self._send(_CS_CONTROL, _USER_CONTROL, 0, 0, struct.pack(">H", _PING_RESPONSE) + payload[2:6])
                self.pings_answered += 1
            elif msg_type == _WINDOW_ACK_SIZE and len(payload) >= 4:
                self._window = max(1, struct.unpack(">I", payload[:4])[0])
        if self._reader.received - self._acked_at >= self._window:
            self._acked_at = self._reader.received
            self._send(_CS_CONTROL, _ACK, 0, 0, struct.pack(">I", self._reader.received & 0xFFFFFFFF))
        return messages

    # ---- publishing: PyAV's file interface -------------------------------------------------------------------

    def write(self, data: bytes) -> int:
        """FLV bytes from the muxer: each complete tag goes out as one RTMP message. Raises when the server is gone,
        ended the publishing, or took nothing for ``write_timeout_s``."""
        self._flv += data
        buf = self._flv
        if not self._flv_header_done:
            if len(buf) < 13:
                return len(data)
            if buf[:3] != b"FLV":
                raise RtmpError("the muxer did not write FLV")
            header_len = struct.unpack(">I", buf[5:9])[0]
            if len(buf) < header_len + 4:
                return len(data)
            del buf[: header_len + 4]  # the FLV header and the first previous-tag size
            self._flv_header_done = True
        while len(buf) >= 11:
            size = int.from_bytes(buf[1:4], "big")
            if len(buf) < 11 + size + 4:
                break
            tag_type = buf[0] & 0x1F
            ts = int.from_bytes(buf[4:7], "big") | (buf[7] << 24)
            body = bytes(buf[11 : 11 + size])
            del buf[: 11 + size + 4]
            if tag_type == _VIDEO:
                self._send(_CS_VIDEO, _VIDEO, self._stream_id, ts, body)
            elif tag_type == _AUDIO:
                self._send(_CS_AUDIO, _AUDIO, self._stream_id, ts, body)
            elif tag_type == _DATA_AMF0:
                if not body.startswith(amf0("@setDataFrame")):
                    body = amf0("@setDataFrame") + body
                self._send(_CS_DATA, _DATA_AMF0, self._stream_id, ts, body)
        self._poll_incoming()
        return len(data)

    def _poll_incoming(self) -> None:
        """What the server sent since the last write, without waiting."""
        sock = self._require()
        while True:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                ready = True
            else:
                ready = bool(select.select([sock], [], [], 0)[0])
            if not ready:
                return
            try:
                data = sock.recv(65536)
            except ssl.SSLWantReadError:
                return
            if not data:
                raise RtmpError("the RTMP server closed the connection")
            for values in self._commands(self._handle(self._reader.feed(data))):
                if values and values[0] == "onStatus":
                    info = values[3] if len(values) > 3 and isinstance(values[3], dict) else {}
                    if info.get("level") == "error" or info.get("code") == "NetStream.Unpublish.Success":
                        raise RtmpError(f"the RTMP server ended the publishing: {_describe(values)}")

    def _send(
        self, csid: int, msg_type: int, stream_id: int, ts: int, payload: bytes, *, chunk_size: int = OUT_CHUNK_SIZE
    ) -> None:
        data = chunk_message(csid, msg_type, stream_id, ts, payload, chunk_size)
        sock = self._require()
        try:
            sock.sendall(data)
        except TimeoutError:
            raise RtmpError(f"the RTMP server took nothing for {self.write_timeout_s:.0f} s") from None
        self.messages_sent += 1
        self.bytes_sent += len(data)

    def _require(self) -> socket.socket:
        sock = self._sock
        if sock is None:
            raise RtmpError("the RTMP connection is closed")
        return sock

    # ---- ending ----------------------------------------------------------------------------------------------

    def fileno(self) -> int:
        """The connection's descriptor (-1 when closed): for the stall watch."""
        sock = self._sock
        return sock.fileno() if sock is not None else -1

    def abort(self) -> None:
        """Break the connection under a blocked write (from another thread): the write raises at once."""
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """End the publishing politely (``FCUnpublish``, ``deleteStream``; best effort, 1 s) and close."""
        if self._closed:
            return
        self._closed = True
        sock = self._sock
        if sock is not None and self._stream_id:
            with contextlib.suppress(OSError, RtmpError):
                sock.settimeout(1.0)
                self._command("FCUnpublish", None, self.url.name)
                self._command("deleteStream", None, float(self._stream_id))
        self._close_socket()

    def _close_socket(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _describe(values: list[Any]) -> str:
    """A server's refusal in words: its ``code`` and ``description`` (never the stream key: the caller scrubs)."""
    info = next((v for v in values[2:] if isinstance(v, dict)), {})
    parts = [str(info.get(k)) for k in ("code", "description") if info.get(k)]
    return " - ".join(parts) or "no reason given"
