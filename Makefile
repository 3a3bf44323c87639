# Every target creates .venv and installs the pinned dependencies on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-slow test-all dev lint format lock bench

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@echo "setting up $(VENV)/: installing warroom and its pinned dependencies (about a minute, once) …"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/warroom demo

# Every test but the slow suites (marked `slow`); `make test-slow` runs those, CI runs both.
test: $(STAMP)
	$(BIN)/pytest -m "not slow"

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

test-all: test test-slow

dev: $(STAMP)
	$(BIN)/warroom dev

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark, each writing bench/results/<name>.json (about 12 minutes on 2 cores).
bench: $(STAMP)
	$(BIN)/python -m bench.bench_incident
	$(BIN)/python -m bench.decision_latency
	$(BIN)/python -m bench.alert_to_action
	$(BIN)/python -m bench.alert_storm
	$(BIN)/python -m bench.history_size
	$(BIN)/python -m bench.rehearse_3day
	$(BIN)/python -m bench.open_incidents
	$(BIN)/python -m bench.archive
	$(BIN)/python -m bench.slack_click
	$(BIN)/python -m bench.oncall_now
	$(BIN)/python -m bench.oncall_memory

# Re-resolve the pins after changing dependencies in pyproject.toml.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check '.[dev]'
	.lock-venv/bin/python -m pip freeze --all --exclude warroom --exclude pip | LC_ALL=C sort > constraints.txt
	rm -rf .lock-venv
