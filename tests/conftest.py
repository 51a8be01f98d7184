"""Shared fixtures: a real Kafka broker and PostgreSQL for the session, log URLs for contracts.

The broker is started once per test session by ``scripts/kafka/broker.py`` (Apache Kafka from
Maven Central, KRaft, loopback, free ports). Set ``STROM_TEST_KAFKA=host:port`` to use a broker
that is already running instead. The broker's log is copied to ``.strom-test/logs/`` when the
session has failures. PostgreSQL likewise: ``scripts/services/postgres.py`` (Debian's server,
loopback, free port), or ``STROM_TEST_POSTGRES=DSN`` to use a running one; MariaDB with
``scripts/services/mariadb.py`` or ``STROM_TEST_MARIADB=DSN``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kafka_broker import BROKER_SCRIPT
from tests.kafka_broker import own_broker as _own_broker

REPO = Path(__file__).resolve().parent.parent

# $STROM_BROKER outranks App(broker=...) (strom.log.choose_url): one exported in the shell
# that runs the suite would move the tests' applications to that log. Tests name their logs.
os.environ.pop("STROM_BROKER", None)
os.environ.pop("STROM_HOME", None)
POSTGRES_SCRIPT = REPO / "scripts" / "services" / "postgres.py"
MARIADB_SCRIPT = REPO / "scripts" / "services" / "mariadb.py"


def _service(
    request: pytest.FixtureRequest, script: Path, name: str, log_file: str, timeout: float
) -> Iterator[str]:
    """Start a service with its script (``up --dir``), yield the address it prints, stop it;
    keep its log in ``.strom-test/logs`` when the session had failures."""
    run_dir = service_dir(name)
    started = subprocess.run(
        [sys.executable, str(script), "up", "--dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if started.returncode != 0:
        pytest.fail(f"could not start {name}:\n{started.stdout}\n{started.stderr}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(
            [sys.executable, str(script), "down", "--dir", str(run_dir)], timeout=60, check=False
        )
        if request.session.testsfailed and (run_dir / log_file).exists():
            keep = REPO / ".strom-test" / "logs"
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(run_dir / log_file, keep / f"{name}-{uuid.uuid4().hex[:8]}.log")
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """host:port of a real Kafka broker, started for this session unless STROM_TEST_KAFKA is set."""
    given = os.environ.get("STROM_TEST_KAFKA")
    if given:
        yield given
        return
    yield from _service(request, BROKER_SCRIPT, "kafka", "broker.log", 600)


@pytest.fixture(scope="session")
def postgres_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    """DSN of a real PostgreSQL (superuser + replication role ``strom``, ``wal_level=logical``),
    started for this session unless STROM_TEST_POSTGRES is set."""
    given = os.environ.get("STROM_TEST_POSTGRES")
    if given:
        yield given
        return
    yield from _service(request, POSTGRES_SCRIPT, "postgres", "server.log", 180)


@pytest.fixture(scope="session")
def mariadb_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    """DSN of a real MariaDB (user ``strom`` with all privileges, row-based binlog with full
    metadata), started for this session unless STROM_TEST_MARIADB is set."""
    given = os.environ.get("STROM_TEST_MARIADB")
    if given:
        yield given
        return
    yield from _service(request, MARIADB_SCRIPT, "mariadb", "server.log", 240)


@pytest.fixture(scope="session")
def kafka_url(kafka_bootstrap: str) -> str:
    """``kafka://host:port`` of the session's broker."""
    return f"kafka://{kafka_bootstrap}"


@pytest.fixture
def local_url(tmp_path: Path) -> str:
    """``local://`` URL of a fresh embedded log in a temporary directory."""
    return f"local://{tmp_path / 'log'}"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Kafka broker of this test alone (it gets stopped and started): (url, run dir)."""
    run = tmp_path / "broker"
    with _own_broker(run) as bootstrap:
        yield f"kafka://{bootstrap}", run


def service_dir(name: str) -> Path:
    """A run directory for a service the session starts. Not under pytest's numbered temporary
    directories: a concurrent pytest session may clean those up while the service runs."""
    return Path(tempfile.mkdtemp(prefix=f"strom-test-{name}-"))


def unique(prefix: str) -> str:
    """A topic or group name no other test uses (tests share one broker)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
