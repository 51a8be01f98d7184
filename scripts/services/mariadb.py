#!/usr/bin/env python3
"""Start and stop a real MariaDB server (Debian's packages) on loopback, for CDC tests and benches.

MariaDB refuses to run as root, so ``mariadbd`` runs as the ``mysql`` user (``runuser -u
mysql --`` when this script runs as root), with its data, socket and log under the run
directory. The binlog is set up the way change capture needs it: ``binlog_format=ROW``,
``binlog_row_image=FULL``, ``binlog_row_metadata=FULL`` (column names and keys in the binlog),
a ``server_id`` and GTIDs. The server listens on 127.0.0.1 and a free port; ready means a real
query answers. The user ``strom`` (password ``strom``, all privileges including replication)
owns the database ``strom``. Standard library only: the test fixture and ``make mariadb-up``
both use it.

    python scripts/services/mariadb.py up [--dir DIR]      # prints the DSN
    python scripts/services/mariadb.py down [--dir DIR]
    python scripts/services/mariadb.py status [--dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from freeport import free_port  # noqa: E402

REPO = HERE.parent.parent
DEFAULT_DIR = REPO / ".strom-test" / "mariadb"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
DB_USER = "mysql"
ROLE = "strom"
PASSWORD = "strom"
DATABASE = "strom"


def binary(name: str) -> str:
    found = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if found is None:
        raise SystemExit(
            f"{name} not found: install the Debian package 'mariadb-server' (make dev-deps does)"
        )
    return found


def as_mysql(*cmd: str) -> list[str]:
    """Run ``cmd`` as the mysql user (the server refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", DB_USER, "--", *cmd]
    return list(cmd)


def chown_to_mysql(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(DB_USER)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def server_pid(run: Path) -> int | None:
    try:
        pid = int((run / "mariadbd.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def dsn_for(port: int) -> str:
    return f"mysql://{ROLE}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"


def read_state(run: Path) -> tuple[int, str] | None:
    dsn_file = run / "dsn"
    pid = server_pid(run)
    if pid is None or not dsn_file.exists():
        return None
    return pid, dsn_file.read_text().strip()


def query(run: Path, sql: str) -> subprocess.CompletedProcess[str]:
    """One statement as root over the server's socket: the readiness probe and the set-up."""
    return subprocess.run(
        [binary("mariadb"), "--no-defaults", "-S", str(run / "mariadbd.sock"), "-uroot", "-N",
         "-B", "-e", sql],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )  # fmt: skip


def up(run: Path) -> str:
    state = read_state(run)
    if state is not None:
        return state[1]
    down(run)
    shutil.rmtree(run, ignore_errors=True)
    data = run / "data"
    data.mkdir(parents=True)
    # The mysql user must reach the run directory; pytest's tmp dirs are 0700 root-owned.
    for parent in [run, *run.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001 and os.geteuid() == 0 and parent.stat().st_uid == 0:
            os.chmod(parent, mode | 0o711)
    chown_to_mysql(run)
    with (run / "install.log").open("wb") as out:
        installed = subprocess.run(
            as_mysql(binary("mariadb-install-db"), "--no-defaults", f"--datadir={data}",
                     "--auth-root-authentication-method=normal", "--skip-test-db"),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=180,
            check=False,
        )  # fmt: skip
    if installed.returncode != 0:
        raise SystemExit(f"mariadb-install-db failed; see {run}/install.log")
    port = free_port()
    started = time.monotonic()
    log = (run / "server.log").open("wb")
    proc = subprocess.Popen(
        as_mysql(
            binary("mariadbd"), "--no-defaults", f"--datadir={data}",
            f"--socket={run / 'mariadbd.sock'}", f"--pid-file={run / 'mariadbd.pid'}",
            f"--port={port}", "--bind-address=127.0.0.1", "--skip-name-resolve",
            f"--log-bin={data / 'binlog'}", "--binlog-format=ROW", "--binlog-row-image=FULL",
            "--binlog-row-metadata=FULL", "--server-id=1", "--log-slave-updates",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=48M",
            "--max-connections=100", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    while True:
        if proc.poll() is not None:
            tail = (run / "server.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"mariadbd exited with {proc.returncode} during start-up:\n{tail}")
        probe = query(run, "SELECT 1")
        if probe.returncode == 0 and probe.stdout.strip() == "1":
            break
        if time.monotonic() - started > START_TIMEOUT_S:
            proc.terminate()
            raise SystemExit(f"MariaDB not answering after {START_TIMEOUT_S:.0f}s: {probe.stderr}")
        time.sleep(0.2)
    setup = (
        f"CREATE USER '{ROLE}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; "
        f"GRANT ALL PRIVILEGES ON *.* TO '{ROLE}'@'127.0.0.1' WITH GRANT OPTION; "
        f"CREATE DATABASE {DATABASE}; FLUSH PRIVILEGES;"
    )
    done = query(run, setup)
    if done.returncode != 0:
        raise SystemExit(f"set-up statements failed: {done.stderr}")
    dsn = dsn_for(port)
    (run / "dsn").write_text(dsn)
    (run / "startup_seconds").write_text(f"{time.monotonic() - started:.2f}")
    return dsn


def down(run: Path) -> None:
    pid = server_pid(run)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while pid_alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
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
            print(f"MariaDB up at {dsn} in {secs.read_text()}s (log: {run}/server.log)",
                  file=sys.stderr)  # fmt: skip
    elif args.command == "down":
        down(run)
    else:
        state = read_state(run)
        print(f"running pid={state[0]} dsn={state[1]}" if state else "stopped")
        sys.exit(0 if state else 1)


if __name__ == "__main__":
    main()
