"""The moto server process (``python -m usage_local.motoserver PORT``): S3, SNS, EventBridge, SQS on
127.0.0.1, until its stdin closes (the stack stopped or died) or it gets SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from moto.server import ThreadedMotoServer


def _wait_for_end_of_input(stop: threading.Event) -> None:
    sys.stdin.buffer.read()
    stop.set()


def main() -> None:
    port = int(sys.argv[1])
    # Ctrl-C reaches the whole process group: the stack decides when moto stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # One log line per request would drown the handlers' logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    threading.Thread(target=_wait_for_end_of_input, args=(stop,), daemon=True).start()
    stop.wait()
    # No server.stop(): its shutdown polls for half a second, and moto keeps nothing worth a clean
    # close; the server's thread is a daemon and ends with the process.


if __name__ == "__main__":
    main()
