# make demo   installs everything, then starts the demo show (recording + live preview page)
# make test   installs everything, then runs the test suite (unit + real nginx-rtmp/ffprobe integration)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench check clean

# Compiled modules are cached (in __pycache__/, ignored by git) even where the environment asks for none: the tests
# start the show's process dozens of times, and each would compile the whole package again.
unexport PYTHONDONTWRITEBYTECODE

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system.sh
	bash scripts/install-system.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,coqui]'
	$(BIN)/python scripts/torchaudio_cpu.py
	@# One OpenCV: a venv made before mediapipe came in still has opencv-python-headless, whose cv2 clashes.
	if $(BIN)/python -m pip show -q opencv-python-headless 2>/dev/null; then \
	  $(BIN)/python -m pip uninstall -q -y opencv-python-headless && \
	  $(BIN)/python -m pip install -q --force-reinstall --no-deps "opencv-contrib-python>=4.10,<4.12"; fi
	touch $(STAMP)

demo: install
	$(BIN)/python run_stream.py run --simulate-chat

check: install
	$(BIN)/python run_stream.py check

test: install
	$(BIN)/python -m pytest -q

# Everything that starts no show, no server and no browser (tests/conftest.py keeps the marker honest).
test-fast: install
	$(BIN)/python -m pytest -q -m "not integration" -n 2 --dist worksteal

lint: install
	$(BIN)/ruff check streamer tests
	$(BIN)/mypy

bench: install
	$(BIN)/python -m streamer.bench pipeline --size 1280x720 --seconds 20

clean:
	rm -rf $(VENV) recordings artifacts .pytest_cache
