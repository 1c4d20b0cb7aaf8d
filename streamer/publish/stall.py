"""Finding and breaking a stalled RTMP connection that FFmpeg owns (Linux).

FFmpeg's RTMP connection has no write deadline we can set through PyAV (``avio_open`` takes no options), so a server
that accepts the stream and then stops reading (a "black hole": a hung ingest, a stopped process) would keep the
writer blocked for ever once the socket buffers are full. FFmpeg releases the GIL while it writes, so a Python
watchdog can look at the socket from outside:

* :func:`sockets_to` finds this process's TCP sockets connected to the server (``/proc/self/fd`` against
  ``/proc/net/tcp``/``tcp6``);
* :class:`TcpProgress` reads how many bytes the peer has acknowledged (``TCP_INFO``'s ``tcpi_bytes_acked``) and
  how many wait in our send queue (``SIOCOUTQ``);
* a connection whose queue is not empty and whose acknowledged count has not moved for the stall time is stalled:
  :func:`break_socket` shuts it down, FFmpeg's write fails, and the output reconnects.

A peer whose kernel still takes data (its receive buffer not yet full) is acknowledging: that is indistinguishable
from a slow reader, so the stall time counts from when nothing more is acknowledged.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct
import time
from dataclasses import dataclass

#: ``SIOCOUTQ`` (``TIOCOUTQ``): bytes in the socket's send queue, not yet acknowledged by the peer.
_SIOCOUTQ = 0x5411
#: Offset of ``tcpi_bytes_acked`` (u64) in Linux's ``struct tcp_info`` (since 4.1).
_BYTES_ACKED_AT = 120
_TCP_INFO_LEN = 232


def _hex_address(text: str) -> tuple[str, int]:
    """``/proc/net/tcp`` address (``0100007F:0016``, little-endian words) -> (ip, port)."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # tcp6: four little-endian 32-bit words
        ip = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
    return ip, int(port, 16)


def _same_ip(a: str, b: str) -> bool:
    try:
        x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return False
    if isinstance(x, ipaddress.IPv6Address) and x.ipv4_mapped is not None:
        x = x.ipv4_mapped
    if isinstance(y, ipaddress.IPv6Address) and y.ipv4_mapped is not None:
        y = y.ipv4_mapped
    return x == y


def _inodes_to(ips: set[str], port: int) -> set[int]:
    found: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                next(f, None)
                for line in f:
                    cols = line.split()
                    if len(cols) < 10 or cols[3] != "01":  # 01: ESTABLISHED
                        continue
                    rip, rport = _hex_address(cols[2])
                    if rport == port and any(_same_ip(rip, ip) for ip in ips):
                        found.add(int(cols[9]))
        except (OSError, ValueError):
            continue
    return found


def resolve(host: str, port: int) -> set[str]:
    """The addresses ``host`` names (empty when it cannot be resolved)."""
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except OSError:
        return set()


def sockets_to(ips: set[str], port: int) -> list[int]:
    """File descriptors of this process's established TCP connections to ``port`` on one of ``ips`` (Linux; []
    elsewhere)."""
    if not ips:
        return []
    inodes = _inodes_to(ips, port)
    if not inodes:
        return []
    fds = []
    try:
        entries = os.listdir("/proc/self/fd")
    except OSError:
        return []
    for name in entries:
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in inodes:
            fds.append(int(name))
    return fds


@dataclass(slots=True)
class TcpProgress:
    """What the peer has taken on one socket: bytes acknowledged so far, bytes still queued on our side."""

    acked: int
    queued: int

    @classmethod
    def read(cls, fd: int) -> TcpProgress | None:
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            return None
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
            queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return None
        finally:
            sock.close()  # the duplicate only: FFmpeg's descriptor stays open
        if len(info) < _BYTES_ACKED_AT + 8:
            return None
        (acked,) = struct.unpack_from("Q", info, _BYTES_ACKED_AT)
        return cls(acked=acked, queued=queued)


def break_socket(fd: int) -> bool:
    """Shut the connection down under its owner (FFmpeg): its blocked write returns an error at once."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False
    finally:
        sock.close()


class StallWatch:
    """Watches the connections to one server: :meth:`check` returns the descriptors stalled for ``stall_s``
    (queue not empty, nothing more acknowledged). Call it every fraction of a second from a thread that is not the
    writer; ``now``: monotonic seconds."""

    def __init__(self, host: str, port: int, *, stall_s: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.stall_s = stall_s
        self._last: dict[int, tuple[int, float]] = {}
        """fd -> (bytes acknowledged, when that count last moved)."""
        self._ips: set[str] = set()
        self._resolved_at = float("-inf")
        """Resolved once, then again at most every 30 s while no connection is found (not twice a second)."""

    def check(self, now: float | None = None) -> list[int]:
        now = time.monotonic() if now is None else now
        stalled = []
        seen = {}
        fds = sockets_to(self._ips, self.port)
        if not fds and now - self._resolved_at >= 30.0:
            self._ips, self._resolved_at = resolve(self.host, self.port), now
            fds = sockets_to(self._ips, self.port)
        for fd in fds:
            progress = TcpProgress.read(fd)
            if progress is None:
                continue
            acked, since = self._last.get(fd, (progress.acked, now))
            if progress.acked != acked or progress.queued == 0:
                since = now
            seen[fd] = (progress.acked, since)
            if now - since >= self.stall_s:
                stalled.append(fd)
        self._last = seen
        return stalled
