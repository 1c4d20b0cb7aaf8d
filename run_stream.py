#!/usr/bin/env python3
"""livehost entry point: ``python run_stream.py [run|check] ...`` (same as ``python -m streamer``)."""

import sys

if __name__ == "__main__":
    from streamer import early_stop

    early_stop.install()  # a stop asked for while the show loads is kept, not a kill (exit 143, no recording)
    from streamer.cli import main

    sys.exit(main())
