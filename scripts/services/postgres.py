#!/usr/bin/env python3
"""Start and stop a real PostgreSQL server (Debian's packages) on loopback, for tests and benches.

PostgreSQL refuses to run as root, so ``initdb`` and ``pg_ctl`` run as the ``postgres`` user
(``runuser -u postgres --`` when this script runs as root). Data and socket directories live
under the run directory, owned by ``postgres``. The server listens on 127.0.0.1 and a free
port, trusts local connections (``initdb -A trust``) and is set up for logical replication
too (``wal_level=logical``, replication slots and WAL senders, a ``replication`` line in
``pg_hba.conf``), so the event store and CDC share one server. The role ``strom``
(superuser, replication) owns the database ``strom``. Standard library only: the test
fixture and ``make pg-up`` both use it.

    python scripts/services/postgres.py up [--dir DIR]      # prints the DSN
    python scripts/services/postgres.py down [--dir DIR]
    python scripts/services/postgres.py status [--dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from freeport import free_port  # noqa: E402

REPO = HERE.parent.parent
DEFAULT_DIR = REPO / ".strom-test" / "postgres"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
PG_USER = "postgres"
ROLE = "strom"
DATABASE = "strom"

# Small machine, several servers at once: modest memory; fsync stays on (the event store's
# durability is what the tests exercise). Logical replication settings are for CDC.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "100",
    "shared_buffers": "'64MB'",
    "work_mem": "'4MB'",
    "maintenance_work_mem": "'32MB'",
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "max_wal_size": "'256MB'",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


def bin_dir() -> Path:
    """The newest Debian PostgreSQL server binaries (``/usr/lib/postgresql/<major>/bin``)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if not found:
        raise SystemExit(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "install the Debian package 'postgresql' (make dev-deps does)"
        )
    return Path(found[-1]).parent


def as_postgres(*cmd: str) -> list[str]:
    """Run ``cmd`` as the postgres user (the server refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_USER, "--", *cmd]
    return list(cmd)


def chown_to_postgres(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(PG_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def server_pid(data: Path) -> int | None:
    pid_file = data / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def dsn_for(port: int) -> str:
    return f"postgresql://{ROLE}@127.0.0.1:{port}/{DATABASE}"


def read_state(run: Path) -> tuple[int, str] | None:
    dsn_file = run / "dsn"
    pid = server_pid(run / "data")
    if pid is None or not dsn_file.exists():
        return None
    return pid, dsn_file.read_text().strip()


def psql(
    bindir: Path, port: int, sql: str, *, user: str, db: str
) -> subprocess.CompletedProcess[str]:
    """One query over TCP with psql: the readiness probe and the set-up statements."""
    return subprocess.run(
        as_postgres(
            str(bindir / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            user,
            "-d",
            db,
            "-tAc",
            sql,
        ),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def up(run: Path) -> str:
    state = read_state(run)
    if state is not None:
        return state[1]
    bindir = bin_dir()
    down(run)
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    # The postgres user must reach the run directory; pytest's tmp dirs are 0700 root-owned.
    for parent in [run, *run.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001 and os.geteuid() == 0 and parent.stat().st_uid == 0:
            os.chmod(parent, mode | 0o711)
    data, sock = run / "data", run / "socket"
    for d in (data, sock):
        d.mkdir()
        chown_to_postgres(d)
        os.chmod(d, 0o700)
    log_file = run / "server.log"
    log_file.touch()
    chown_to_postgres(log_file)
    with (run / "initdb.log").open("wb") as out:
        init = subprocess.run(
            as_postgres(
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                PG_USER,
                "-E",
                "UTF8",
                "--no-instructions",
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    if init.returncode != 0:
        raise SystemExit(f"initdb failed; see {run}/initdb.log")
    port = free_port()
    conf = dict(SETTINGS, port=str(port), unix_socket_directories=f"'{sock}'")
    with (data / "postgresql.conf").open("a") as f:
        f.write("\n# strom test server\n")
        f.writelines(f"{k} = {v}\n" for k, v in conf.items())
    with (data / "pg_hba.conf").open("a") as f:
        f.write("host replication all 127.0.0.1/32 trust\n")
    started = time.monotonic()
    ctl = subprocess.run(
        as_postgres(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log_file),
            "-w",
            "-t",
            str(int(START_TIMEOUT_S)),
            "start",
        ),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S + 10,
        check=False,
    )
    if ctl.returncode != 0:
        tail = log_file.read_text(errors="replace")[-3000:]
        raise SystemExit(f"PostgreSQL did not start:\n{ctl.stdout}{ctl.stderr}\n{tail}")
    # Ready means a real query over TCP succeeds, not a line in the log.
    while True:
        probe = psql(bindir, port, "SELECT 1", user=PG_USER, db="postgres")
        if probe.returncode == 0 and probe.stdout.strip() == "1":
            break
        if time.monotonic() - started > START_TIMEOUT_S:
            raise SystemExit(
                f"PostgreSQL not answering after {START_TIMEOUT_S:.0f}s: {probe.stderr}"
            )
        time.sleep(0.2)
    for sql, db in (
        (f"CREATE ROLE {ROLE} WITH LOGIN SUPERUSER REPLICATION", "postgres"),
        (f"CREATE DATABASE {DATABASE} OWNER {ROLE}", "postgres"),
    ):
        done = psql(bindir, port, sql, user=PG_USER, db=db)
        if done.returncode != 0:
            raise SystemExit(f"set-up statement failed: {sql}: {done.stderr}")
    check = psql(bindir, port, "SHOW wal_level", user=ROLE, db=DATABASE)
    if check.returncode != 0 or check.stdout.strip() != "logical":
        raise SystemExit(f"PostgreSQL is up but not usable as {ROLE}: {check.stderr}")
    dsn = dsn_for(port)
    (run / "dsn").write_text(dsn)
    (run / "startup_seconds").write_text(f"{time.monotonic() - started:.2f}")
    return dsn


def down(run: Path) -> None:
    data = run / "data"
    pid = server_pid(data)
    if pid is None:
        (run / "dsn").unlink(missing_ok=True)
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(
            as_postgres(
                str(bin_dir() / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(STOP_TIMEOUT_S)),
                "stop",
            ),
            capture_output=True,
            timeout=STOP_TIMEOUT_S + 10,
            check=False,
        )
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        # Immediate shutdown: the postmaster takes its children down with it.
        os.kill(pid, 3)  # SIGQUIT
    (run / "dsn").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="run directory (data, socket, log)"
    )
    args = parser.parse_args()
    run: Path = args.dir.resolve()
    if args.command == "up":
        dsn = up(run)
        print(dsn)
        secs = run / "startup_seconds"
        if secs.exists():
            print(
                f"PostgreSQL ({bin_dir().parent.name}) up at {dsn} in {secs.read_text()}s "
                f"(log: {run}/server.log)",
                file=sys.stderr,
            )
    elif args.command == "down":
        down(run)
    else:
        state = read_state(run)
        print(f"running pid={state[0]} dsn={state[1]}" if state else "stopped")
        sys.exit(0 if state else 1)


if __name__ == "__main__":
    main()
