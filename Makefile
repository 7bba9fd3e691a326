# DistPOS developer and operator entry points. Every target installs what it needs.
PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
COMETBFT_VERSION := v0.38.25
BIN         := $(CURDIR)/bin
CHAINS      ?= 1
VALIDATORS  ?= 4
NETNS       ?=

.PHONY: all venv cometbft browser proto test test-unit test-integration localnet localnet-stop localnet-status bench soak fuzz clean

all: test

# ---- installation ----------------------------------------------------------

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# Built from source with the Go toolchain; skipped when ./bin already has the right version.
cometbft:
	@if [ -x $(BIN)/cometbft ] && [ "$$($(BIN)/cometbft version 2>/dev/null)" = "$(COMETBFT_VERSION:v%=%)" ] && [ -x $(BIN)/abci-cli ]; then \
		echo "cometbft $(COMETBFT_VERSION) already in ./bin"; \
	else \
		echo "building cometbft $(COMETBFT_VERSION) and abci-cli into ./bin (first build takes a few minutes)"; \
		mkdir -p $(BIN); \
		CGO_ENABLED=0 GOBIN=$(BIN) go install github.com/cometbft/cometbft/cmd/cometbft@$(COMETBFT_VERSION) && \
		CGO_ENABLED=0 GOBIN=$(BIN) go install github.com/cometbft/cometbft/abci/cmd/abci-cli@$(COMETBFT_VERSION); \
	fi

# Regenerates distpos_abci/gen from proto/. tests/test_proto_generated.py fails when it is stale.
proto: venv
	$(PY) scripts/gen_proto.py

# ---- tests -------------------------------------------------------------------

test: venv cometbft browser
	PATH=$(BIN):$$PATH $(PY) -m pytest -q

test-unit: venv
	$(PY) -m pytest -q -m "not integration"

test-integration: venv cometbft
	PATH=$(BIN):$$PATH $(PY) -m pytest -q -m integration

# Debian's Chromium for the dashboard's browser test (Playwright drives it; nothing is downloaded by Playwright).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the dashboard's browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing: install Debian's chromium (apt-get install chromium) for the browser test"; exit 1; fi

# ---- localnet ----------------------------------------------------------------

# NETNS=1: every node and relay in its own network namespace (needs root; kept in network.json for later runs).
localnet: venv cometbft
	DISTPOS_LOCALNET_NETNS=$(NETNS) $(PY) -m distpos_abci.localnet up --chains $(CHAINS) --validators $(VALIDATORS) --cometbft $(BIN)/cometbft --dir localnet/run

localnet-stop: venv
	$(PY) -m distpos_abci.localnet down --dir localnet/run

localnet-status: venv
	$(PY) -m distpos_abci.localnet status --dir localnet/run

# ---- benchmarks ---------------------------------------------------------------

bench: venv cometbft
	PATH=$(BIN):$$PATH $(PY) -m bench.run

# A 1x4 localnet at half its measured capacity for SOAK_MINUTES (default 30); not part of CI.
SOAK_MINUTES ?= 30
soak: venv cometbft
	PATH=$(BIN):$$PATH SOAK_MINUTES=$(SOAK_MINUTES) $(PY) -m bench.soak

# ---- fuzzing -------------------------------------------------------------------------

FUZZ_RUNS   ?= 1000000
FUZZ_TARGETS ?=

# Every decoder under atheris, one target at a time, niced; a row per target appended to bench/RESULTS.md.
fuzz: venv
	FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_TARGETS=$(FUZZ_TARGETS) nice -n 10 $(PY) -m fuzz.run

clean:
	rm -rf $(VENV) bin localnet/run .pytest_cache .hypothesis fuzz/corpus fuzz/work fuzz/findings
