PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.dev-installed
BENCHSTAMP := $(VENV)/.bench-installed

.PHONY: demo test install bench bench-tempo clean screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	$(BIN)/python -m compileall -q src  # bytecode now: the first run doesn't compile
	touch $@

$(DEVSTAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(BENCHSTAMP): $(DEVSTAMP)
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

install: $(STAMP)

DEMO := demo-out

demo: $(STAMP)
	@mkdir -p $(DEMO)
	$(BIN)/underdog scan --db $(DEMO)/library.db examples/library
	$(BIN)/underdog tracks --db $(DEMO)/library.db
	$(BIN)/underdog plan --db $(DEMO)/library.db --arc montage --minutes 30 --no-record --explain \
	    -o $(DEMO)/montage.m3u8 -o $(DEMO)/montage.xspf -o $(DEMO)/montage.json --plot $(DEMO)/montage.png
	$(BIN)/underdog render $(DEMO)/montage.json --db $(DEMO)/library.db -o $(DEMO)/montage.opus
	$(BIN)/underdog soundtrack match examples/tracklists/never-back-down-2008.txt \
	    --db $(DEMO)/library.db -o $(DEMO)/never-back-down.m3u8
	(echo '#EXTM3U'; printf '../examples/library/%s\n' "Sectoid - Feelings.opus" \
	    "Nexuiz - Digital Pursuit.opus" "Nexuiz - Beast of Insanity.ogg" \
	    "Muldjord - Chaos God.ogg") > $(DEMO)/reference.m3u8
	$(BIN)/underdog like $(DEMO)/reference.m3u8 --db $(DEMO)/library.db --no-record \
	    --save-arc $(DEMO)/like-reference.toml -o $(DEMO)/like.m3u8 -o $(DEMO)/like.json \
	    --plot $(DEMO)/like.png

# two processes (the 2-core budget), each test file on one (its fixtures built once)
test: $(DEVSTAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# docs/web/*.png: the browser tests' screenshots of each page (needs Chromium: apt-get install chromium)
screenshots: $(DEVSTAMP)
	UNDERDOG_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_web_browser.py

# madmom is a bench-only peer (non-commercial models) in its own venv; if it cannot be
# built here, bench/tempo.py runs without it.
.venv-madmom/.installed:
	-$(PY) -m venv .venv-madmom && .venv-madmom/bin/pip install -q "numpy<2" scipy cython mido \
	    soundfile wheel setuptools && .venv-madmom/bin/pip install -q --no-build-isolation \
	    madmom==0.16.1 && touch $@

bench-tempo: $(BENCHSTAMP) .venv-madmom/.installed
	$(BIN)/python bench/tempo.py

clean:
	rm -rf $(VENV) demo-out
