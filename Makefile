# The two commands of the README, and what they stand on.
#   make demo    set up, then run the embedded demo (no hardware, no broker)
#   make test    set up everything the tests need, then lint, type-check and test
#   make bench   the benchmarks, printing their figures
#
# MIP_INDEX: the mip package index the tests install micropython-lib's LoRa
# drivers from (lora, lora-sync, lora-async, lora-sx127x, lora-sx126x), a URL
# or a local directory in mip's layout; passed to pytest as METEOLINK_MIP_INDEX.
# Empty: ../shared/micropython-lib/index when it exists, else micropython.org's.
#   make test MIP_INDEX=http://127.0.0.1:8765

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SOURCES := $(shell find tools firmware gateway boards -name "*.py" 2>/dev/null) $(wildcard boards/*.json)
STUBS_VERSION := 1.29.*
MIP_INDEX ?= $(METEOLINK_MIP_INDEX)

.PHONY: demo test lint typecheck system-tools bench clean

demo: $(VENV)/.installed
	$(BIN)/meteolink demo

test: lint typecheck system-tools
	METEOLINK_MIP_INDEX='$(MIP_INDEX)' $(BIN)/pytest

# Tools the tests run that pip cannot install: a real Mosquitto broker,
# systemd-analyze for the unit file, openssl for TLS certificates, socat for
# the virtual board mpremote talks to; chromium and its driver for the status
# page in a real browser (Selenium), prometheus to scrape its metrics. Installed
# with apt-get when missing (CI runs as root); otherwise the command to run is printed.
SYSTEM_TOOLS := mosquitto:mosquitto systemd-analyze:systemd openssl:openssl socat:socat \
  chromium:chromium chromedriver:chromium-driver prometheus:prometheus \
  influxd:influxdb victoria-metrics:victoria-metrics
system-tools:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else \
	    echo "make test needs:$$missing (run: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

# The package is installed in "strict" editable mode: a tree of links under
# build/ that maps tools/ to meteolink.tools, firmware/ to meteolink.firmware and
# so on (pyproject.toml), so that the type checker sees the packages as they
# are imported. A new source file re-runs the install to link it.
$(VENV)/.installed: pyproject.toml $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=strict
	touch $@

# MicroPython's stubs for each port, kept apart: both define `machine`.
.stubs/%/.installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --upgrade --target .stubs/$* 'micropython-$*-stubs==$(STUBS_VERSION)'
	touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/codespell

typecheck: $(VENV)/.installed .stubs/esp32/.installed .stubs/rp2/.installed
	$(BIN)/mypy
	for port in esp32 rp2; do \
	  MYPYPATH=.stubs/$$port:firmware $(BIN)/mypy --explicit-package-bases --config-file firmware/mypy.ini \
	    --custom-typeshed-dir .stubs/$$port firmware/*.py sim/*.py || exit 1; \
	done

bench: $(VENV)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .stubs build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
