# strom: every set-up step a fresh machine needs lives here.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
KAFKA  := $(PY) scripts/kafka/broker.py
PG     := $(PY) scripts/services/postgres.py
MARIADB := $(PY) scripts/services/mariadb.py

.PHONY: venv dev-deps test unit lint typecheck kafka-up kafka-down kafka-status pg-up pg-down pg-status demo bench bench-quick bench-state bench-stateful bench-es es-soak clean
.PHONY: mariadb-up mariadb-down mariadb-status cdc-compat cdc-crash bench-cdc
.PHONY: crash-quick crash-long bench-eos bench-windows bench-joins

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# kcat is the independent Kafka client used by the interop tests; PostgreSQL (Debian's) backs
# the event store and CDC tests (scripts/services/postgres.py starts it); MariaDB (Debian's)
# backs the MySQL-protocol CDC tests (scripts/services/mariadb.py).
dev-deps:
	@command -v kcat >/dev/null 2>&1 || command -v kafkacat >/dev/null 2>&1 || \
	  { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kafkacat >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	  { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@test -x /usr/sbin/mariadbd || \
	  { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null; }

# The whole suite: unit tests, contract suites on every log, integration tests on a real Kafka
# broker that the session fixture starts (or STROM_TEST_KAFKA=host:port to reuse one).
test: venv dev-deps
	$(PY) scripts/kafka/broker.py resolve >/dev/null
	$(PY) scripts/debezium/engine.py resolve >/dev/null
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

# A stopped broker is a status, not a failure of make (the script itself exits 1 for scripts).
kafka-status: venv
	@$(KAFKA) status || true

pg-up: venv dev-deps
	@$(PG) up

pg-down: venv
	@$(PG) down

pg-status: venv
	@$(PG) status

mariadb-up: venv dev-deps
	@$(MARIADB) up

mariadb-down: venv
	@$(MARIADB) down

mariadb-status: venv
	@$(MARIADB) status

# CDC: strom's PostgreSQL capture against Debezium 3.6.1's embedded engine (also in `make test`),
# and the long crash run (SIGKILL at random points while a writer commits; docs/cdc.md).
cdc-compat: venv dev-deps
	$(PY) scripts/debezium/engine.py resolve >/dev/null
	$(PY) -m pytest tests/integration/cdc/test_debezium_compat.py -q

# CDC benchmark: PostgreSQL -> Kafka, strom beside Debezium's embedded engine (throughput,
# commit-to-topic latency); its section of docs/benchmarks.md.
bench-cdc: venv dev-deps
	$(PY) scripts/debezium/engine.py resolve >/dev/null
	$(PY) -m bench.cdc $(BENCH_ARGS)

cdc-crash: venv dev-deps
	STROM_CDC_CRASH_ROUNDS=$${STROM_CDC_CRASH_ROUNDS:-40} $(PY) -m pytest tests/integration/cdc/test_crash.py -q -m slow

# Exactly-once under SIGKILL (tests/crash, docs/reliability.md): the short form `make test`
# runs too (about 10 kills per case; STROM_CRASH_KILLS=N for more), and the long run (>= 200
# kills per case on Kafka and the embedded log, a broker restart, a zombie) that rewrites
# docs/reliability.md; CRASH_ARGS passes options (python -m tests.crash long --help).
# Exactly-once against at-least-once on Kafka: throughput (stateless, windowed; 100 ms and 1 s
# commit intervals) and latency at 10,000 events/s; its section of docs/benchmarks.md.
bench-eos: venv
	$(PY) -m bench.eos $(BENCH_ARGS)

crash-quick: venv
	$(PY) scripts/kafka/broker.py resolve >/dev/null
	$(PY) -m pytest tests/integration/crash -q

crash-long: venv
	$(PY) scripts/kafka/broker.py resolve >/dev/null
	$(PY) -m tests.crash long $(CRASH_ARGS)

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

# The window and join operator cores alone (memory vs RocksDB); their sections of
# docs/benchmarks.md.
bench-windows: venv
	$(PY) -m bench.windows $(BENCH_ARGS)

bench-joins: venv
	$(PY) -m bench.joins $(BENCH_ARGS)

# Stateful pipelines on Kafka (issue 11): a tumbling-window count+sum in strom (RocksDB and
# memory), Quix Streams (its venv: bench/.venvs/quix) and a hand-written loop with a dict, the
# state cost against strom's stateless pipeline, changelog restore rates, memory per key.
bench-stateful: venv
	$(PY) -m bench.stateful $(BENCH_ARGS)

# Event store against the eventsourcing library (its venv: bench/.venvs/eventsourcing) on a
# PostgreSQL started for the run (or $STROM_TEST_POSTGRES); section in docs/benchmarks.md.
bench-es: venv dev-deps
	$(PY) -m bench.es.run $(BENCH_ARGS)

# The event store's concurrency test at soak size: 8 writer processes x 5000 appends while a
# follower checks read_all for gaps (PostgreSQL and SQLite).
es-soak: venv dev-deps
	STROM_ES_SOAK_WRITERS=8 STROM_ES_SOAK_APPENDS=5000 $(PY) -m pytest -q \
	  tests/integration/es/test_concurrent_processes.py

clean:
	rm -rf $(VENV) .strom-test .strom build *.egg-info
