import threading
import time

from streamer.gate import SharedExclusiveGate


def test_exclusive_waits_for_shared_holders_and_blocks_new_ones():
    gate = SharedExclusiveGate()
    log: list[str] = []
    in_shared = threading.Event()
    release_shared = threading.Event()

    def reader(name: str, hold: threading.Event | None) -> None:
        with gate.shared():
            log.append(f"{name}+")
            if hold is not None:
                in_shared.set()
                hold.wait(2)
            log.append(f"{name}-")

    def writer() -> None:
        with gate.exclusive():
            log.append("W+")
            time.sleep(0.05)
            log.append("W-")

    r1 = threading.Thread(target=reader, args=("r1", release_shared))
    r1.start()
    in_shared.wait(2)
    w = threading.Thread(target=writer)
    w.start()
    time.sleep(0.05)
    r2 = threading.Thread(target=reader, args=("r2", None))  # arrives while the writer waits: must go after it
    r2.start()
    time.sleep(0.05)
    assert "W+" not in log
    release_shared.set()
    for t in (r1, w, r2):
        t.join(2)
    assert log == ["r1+", "r1-", "W+", "W-", "r2+", "r2-"]
