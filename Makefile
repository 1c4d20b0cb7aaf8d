# make demo   installs everything, then starts the demo show (recording + live preview page)
# make test   installs everything, then runs the test suite (unit + real nginx-rtmp/ffprobe integration)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench check clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system.sh
	bash scripts/install-system.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: install
	$(BIN)/python run_stream.py run --simulate-chat

check: install
	$(BIN)/python run_stream.py check

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check streamer tests
	$(BIN)/mypy

bench: install
	$(BIN)/python -m streamer.bench pipeline --size 1280x720 --seconds 20

clean:
	rm -rf $(VENV) recordings artifacts .pytest_cache
