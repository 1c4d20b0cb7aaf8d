"""Finding a stalled RTMP connection (Linux): a server that accepts the stream and then stops reading.

A write to such a server ("a black hole": a hung ingest, a stopped process) blocks once the socket buffers are
full, and the buffers hide the stall for seconds before that. The connection is the show's own socket
(:class:`streamer.publish.rtmp.RtmpPublisher`), so a watchdog thread looks at it directly:

* :class:`TcpProgress` reads how many bytes the peer has acknowledged (``TCP_INFO``'s ``tcpi_bytes_acked``) and how
  many wait in our send queue (``SIOCOUTQ``);
* :class:`AckWatch`: a connection whose queue is not empty and whose acknowledged count has not moved for the stall
  time is stalled; the sink then shuts it down under its blocked write, which fails, and the output reconnects.

A peer whose kernel still takes data (its receive buffer not yet full) is acknowledging: that is indistinguishable
from a slow reader, so the stall time counts from when nothing more is acknowledged.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import time
from dataclasses import dataclass

#: ``SIOCOUTQ`` (``TIOCOUTQ``): bytes in the socket's send queue, not yet acknowledged by the peer.
_SIOCOUTQ = 0x5411
#: Offset of ``tcpi_bytes_acked`` (u64) in Linux's ``struct tcp_info`` (since 4.1).
_BYTES_ACKED_AT = 120
_TCP_INFO_LEN = 232


@dataclass(slots=True)
class TcpProgress:
    """What the peer has taken on one socket: bytes acknowledged so far, bytes still queued on our side."""

    acked: int
    queued: int

    @classmethod
    def read(cls, fd: int) -> TcpProgress | None:
        """None when ``fd`` is closed, not a TCP socket, or the kernel does not say."""
        if fd < 0:
            return None
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            return None
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
            queued = struct.unpack("i", fcntl.ioctl(fd, _SIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return None
        finally:
            sock.detach()  # a view of the owner's descriptor: never closed here
        if len(info) < _BYTES_ACKED_AT + 8:
            return None
        (acked,) = struct.unpack_from("Q", info, _BYTES_ACKED_AT)
        return cls(acked=acked, queued=queued)


class AckWatch:
    """One connection at a time: :meth:`stalled` says whether the socket ``fd`` has had data waiting and nothing more
    acknowledged for ``stall_s``. Call it every fraction of a second from a thread that is not the writer; a new
    ``fd`` (a new connection) starts afresh. ``now``: monotonic seconds."""

    def __init__(self, *, stall_s: float = 5.0) -> None:
        self.stall_s = stall_s
        self._fd = -1
        self._acked = 0
        self._since = 0.0

    def stalled(self, fd: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        progress = TcpProgress.read(fd)
        if progress is None:
            self._fd = -1
            return False
        if fd != self._fd or progress.acked != self._acked or progress.queued == 0:
            self._fd, self._acked, self._since = fd, progress.acked, now
            return False
        return now - self._since >= self.stall_s
