# strom: every set-up step a fresh machine needs lives here.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
KAFKA  := $(PY) scripts/kafka/broker.py
PG     := $(PY) scripts/services/postgres.py

.PHONY: venv dev-deps test unit lint typecheck kafka-up kafka-down kafka-status pg-up pg-down pg-status demo bench bench-quick bench-state clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# kcat is the independent Kafka client used by the interop tests; PostgreSQL (Debian's) backs
# the event store and CDC tests (scripts/services/postgres.py starts it).
dev-deps:
	@command -v kcat >/dev/null 2>&1 || command -v kafkacat >/dev/null 2>&1 || \
	  { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kafkacat >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	  { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# The whole suite: unit tests, contract suites on every log, integration tests on a real Kafka
# broker that the session fixture starts (or STROM_TEST_KAFKA=host:port to reuse one).
test: venv dev-deps
	$(PY) scripts/kafka/broker.py resolve >/dev/null
	$(PY) -m pytest tests -q

unit: venv
	$(PY) -m pytest tests/unit -q

lint: venv
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests

typecheck: venv
	$(VENV)/bin/mypy

kafka-up: venv
	@$(KAFKA) up

kafka-down: venv
	@$(KAFKA) down

kafka-status: venv
	@$(KAFKA) status

pg-up: venv dev-deps
	@$(PG) up

pg-down: venv
	@$(PG) down

pg-status: venv
	@$(PG) status

demo: venv
	$(PY) -m strom.demo

# Benchmarks (docs/benchmarks.md). Peers' venvs are created under bench/.venvs on first use;
# BENCH_ARGS passes options, e.g. make bench BENCH_ARGS='--only raw,strom --repeat 5'.
bench: venv
	$(PY) -m bench.run $(BENCH_ARGS)

bench-quick: venv
	$(PY) -m bench.run --quick $(BENCH_ARGS)

# State-store micro-benchmarks (memory vs RocksDB); their section of docs/benchmarks.md.
bench-state: venv
	$(PY) -m bench.state $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .strom-test .strom build *.egg-info
