"""Make torchaudio importable beside the CPU build of torch (run by ``make install``; safe to run again).

coqui-tts imports torchaudio for its pure-Python parts (mel spectrograms, resampling). PyPI's only torchaudio
wheels for Linux x86-64 are CUDA builds whose compiled extension links against torch's CUDA libraries, which the CPU
build of torch (pinned in pyproject.toml: an unpinned torch pulls a multi-GB CUDA build) does not have, so
``import torchaudio`` fails. torchaudio treats an absent extension as a supported layout (it is how it runs when
packed without its libraries) and keeps its Python functions working; only the compiled extras (forced alignment,
CTC decoders, which livehost never calls) become unavailable. So when the extension cannot load, this moves its
libraries aside into ``torchaudio/lib/not-loadable/`` (kept, not deleted) and checks that the import now works.
Audio files are read with PyAV, never with torchaudio.load (its torchcodec backend is built for another torch).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path


def _imports() -> tuple[bool, str]:
    run = subprocess.run([sys.executable, "-c", "import torchaudio"], capture_output=True, text=True)
    return run.returncode == 0, run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""


def main() -> int:
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or not spec.submodule_search_locations:
        print("torchaudio is not installed: nothing to do")
        return 0
    ok, why = _imports()
    if ok:
        return 0
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    aside = lib / "not-loadable"
    aside.mkdir(exist_ok=True)
    for so in lib.glob("*.so"):
        so.rename(aside / so.name)
    ok, after = _imports()
    if not ok:
        print(f"torchaudio still does not import: {after}", file=sys.stderr)
        return 1
    print(f"torchaudio: its compiled extension cannot load here ({why}); moved aside, the Python parts import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
