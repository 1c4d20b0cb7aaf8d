"""A TCP proxy for the fault tests, run as its own process: ``python freezing_proxy.py UPSTREAM_PORT``.

Prints the port it listens on (127.0.0.1), then ``connection N`` for each connection. Forwards both ways; on
SIGUSR1 every connection open at that moment stops reading from its client (a server that stopped reading), with a
small receive buffer so the client sees it at once; later connections are forwarded normally. Ends on SIGTERM."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time

opened = 0
frozen_upto = 0
"""Connections numbered up to this one stop reading from their clients."""


def pump(src: socket.socket, dst: socket.socket, number: int) -> None:
    while True:
        if number and number <= frozen_upto:
            time.sleep(0.05)
            continue
        try:
            data = src.recv(65536)
        except OSError:
            break
        if not data:
            break
        try:
            dst.sendall(data)
        except OSError:
            break
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main() -> None:
    global opened, frozen_upto
    upstream_port = int(sys.argv[1])

    def freeze(*_: object) -> None:
        global frozen_upto
        frozen_upto = opened

    signal.signal(signal.SIGUSR1, freeze)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        opened += 1
        print(f"connection {opened}", flush=True)
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        threading.Thread(target=pump, args=(client, upstream, opened), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, 0), daemon=True).start()


if __name__ == "__main__":
    main()
