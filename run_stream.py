#!/usr/bin/env python3
"""livehost entry point: ``python run_stream.py [run|check] ...`` (same as ``python -m streamer``)."""

import sys

from streamer.cli import main

if __name__ == "__main__":
    sys.exit(main())
