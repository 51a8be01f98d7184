#!/usr/bin/env python3
"""Start and stop a real single-node Apache Kafka 4.x broker (KRaft) on loopback.

The broker's jars come from Maven Central through Maven (``pom.xml`` beside this file) and are
cached in ``~/.cache/strom/kafka-<version>`` so only the first run on a machine downloads. No
Docker, no tarball. Standard library only: the test fixture and ``make kafka-up`` both use it.

    python scripts/kafka/broker.py up [--dir DIR]      # prints the bootstrap address
    python scripts/kafka/broker.py down [--dir DIR]    # stops it (data kept until next up)
    python scripts/kafka/broker.py start [--dir DIR]   # starts it again: same ports, same data
    python scripts/kafka/broker.py status [--dir DIR]

The broker counts as up when its group coordinator answers a FindCoordinator request (the
offsets topic exists and is loaded), not when it logs that it started: a consumer group can
be used as soon as ``up`` returns.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from freeport import free_port  # noqa: E402

REPO = HERE.parent.parent
DEFAULT_DIR = REPO / ".strom-test" / "kafka"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
START_ATTEMPTS = 3


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", (HERE / "pom.xml").read_text())
    if match is None:
        raise SystemExit("scripts/kafka/pom.xml has no <kafka.version> property")
    return match.group(1)


def lib_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "strom" / f"kafka-{kafka_version()}" / "lib"


def resolve_jars() -> Path:
    """Copy the broker and its dependencies out of Maven into the cache (once per machine)."""
    lib = lib_dir()
    marker = lib / ".complete"
    if marker.exists():
        return lib
    if shutil.which("mvn") is None:
        raise SystemExit("Maven (mvn) is required to fetch Apache Kafka from Maven Central")
    tmp = lib.with_name("lib.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"resolving Apache Kafka {kafka_version()} from Maven Central ...", file=sys.stderr)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(HERE / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ],
        check=True,
        timeout=900,
    )
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    marker.touch()
    return lib


def server_properties(data: Path, port: int, controller_port: int) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": "1",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "log.cleaner.backoff.ms": "1000",
        "auto.create.topics.enable": "false",
        "delete.topic.enable": "true",
        "message.max.bytes": str(1024 * 1024 + 1024),
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def java_cmd(lib: Path, *args: str) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise SystemExit("Java 17+ is required to run the Kafka broker")
    return [
        java,
        "-Xms256m",
        "-Xmx512m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-cp",
        f"{lib}/*",
        *args,
    ]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def read_state(run: Path) -> tuple[int, str] | None:
    pid_file, boot_file = run / "broker.pid", run / "bootstrap"
    if not pid_file.exists() or not boot_file.exists():
        return None
    pid = int(pid_file.read_text())
    if not pid_alive(pid):
        return None
    return pid, boot_file.read_text().strip()


def up(run: Path) -> str:
    state = read_state(run)
    if state is not None:
        return state[1]
    lib = resolve_jars()
    # A port found free can be taken before the broker binds it (an outgoing connection's
    # ephemeral port, another service starting): such a start is tried again on new ports.
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return _set_up_and_launch(run, lib)
        except BindFailed as exc:
            if attempt == START_ATTEMPTS:
                raise SystemExit(str(exc)) from None
            print(f"{exc}\ntrying again on other ports", file=sys.stderr)
    raise AssertionError("unreachable")


class BindFailed(Exception):
    """The broker exited during start-up because one of its ports was taken."""


def _set_up_and_launch(run: Path, lib: Path) -> str:
    shutil.rmtree(run, ignore_errors=True)
    data = run / "data"
    data.mkdir(parents=True)
    port, cport = free_port(), free_port()
    while cport == port:
        cport = free_port()
    props = run / "server.properties"
    props.write_text(server_properties(data, port, cport))
    cluster_id = "-"
    while cluster_id.startswith("-"):  # a leading "-" reads as an option (as Kafka's Uuid)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    with (run / "format.log").open("wb") as format_log:
        formatted = subprocess.run(
            java_cmd(lib, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)),
            stdout=format_log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    if formatted.returncode != 0:
        raise SystemExit(f"formatting the KRaft log dir failed; see {run}/format.log")
    return launch(run, lib, port, time.monotonic())


def start(run: Path) -> str:
    """Start the broker of ``run`` again (after ``down``): same ports, same data."""
    state = read_state(run)
    if state is not None:
        return state[1]
    props = run / "server.properties"
    if not props.exists():
        raise SystemExit(f"no broker was set up in {run}; use `up` first")
    match = re.search(r"^listeners=PLAINTEXT://127\.0\.0\.1:(\d+),", props.read_text(), re.M)
    if match is None:
        raise SystemExit(f"{props} has no PLAINTEXT listener")
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return launch(run, resolve_jars(), int(match.group(1)), time.monotonic())
        except BindFailed as exc:
            if attempt == START_ATTEMPTS:
                raise SystemExit(str(exc)) from None
            time.sleep(1.0)  # the port of the broker just stopped, or a client's for a moment
    raise AssertionError("unreachable")


def launch(run: Path, lib: Path, port: int, started: float) -> str:
    """Start the broker configured in ``run`` and wait until its group coordinator answers."""
    props = run / "server.properties"
    log = (run / "broker.log").open("ab")
    proc = subprocess.Popen(
        java_cmd(lib, "kafka.Kafka", str(props)),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    (run / "broker.pid").write_text(str(proc.pid))
    bootstrap = f"127.0.0.1:{port}"
    last = "no answer yet"
    while True:
        if proc.poll() is not None:
            tail = (run / "broker.log").read_text(errors="replace")[-3000:]
            message = f"Kafka broker exited with {proc.returncode} during start-up:\n{tail}"
            if "Address already in use" in tail:
                raise BindFailed(message)
            raise SystemExit(message)
        last = coordinator_answer(port)
        if last == "ok":
            break
        if time.monotonic() - started > START_TIMEOUT_S:
            proc.terminate()
            raise SystemExit(
                f"Kafka broker not ready after {START_TIMEOUT_S:.0f}s ({last}); see "
                f"{run}/broker.log"
            )
        time.sleep(0.2)
    (run / "bootstrap").write_text(bootstrap)
    (run / "startup_seconds").write_text(f"{time.monotonic() - started:.2f}")
    return bootstrap


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def coordinator_answer(port: int, group: str = "strom-readiness-probe") -> str:
    """Ask the broker on ``port`` for ``group``'s coordinator (FindCoordinator v2, the Kafka
    protocol by hand: this script needs the standard library only). "ok" when it names one,
    else what went wrong (refused, COORDINATOR_NOT_AVAILABLE while the offsets topic is
    created, COORDINATOR_LOAD_IN_PROGRESS while it loads)."""
    body = _string(group) + struct.pack(">b", 0)  # key, key_type 0 = group
    header = struct.pack(">hhi", 10, 2, 1) + _string("strom-broker-script")
    request = header + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _read_exactly(sock, 4))[0]
            response = _read_exactly(sock, size)
    except OSError as exc:
        return f"connection: {exc}"
    # correlation_id, throttle_time_ms, error_code
    _, _, error = struct.unpack_from(">iih", response, 0)
    if error == 0:
        return "ok"
    names = {14: "COORDINATOR_LOAD_IN_PROGRESS", 15: "COORDINATOR_NOT_AVAILABLE"}
    return names.get(error, f"FindCoordinator error {error}")


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def down(run: Path) -> str:
    """Stop the broker of ``run``; say what was stopped (or that nothing was running)."""
    pid_file = run / "broker.pid"
    if not pid_file.exists():
        return f"no Kafka broker was running (nothing in {run})"
    pid = int(pid_file.read_text())
    boot_file = run / "bootstrap"
    bootstrap = boot_file.read_text().strip() if boot_file.exists() else "unknown address"
    if not pid_alive(pid):
        pid_file.unlink(missing_ok=True)
        boot_file.unlink(missing_ok=True)
        return f"no Kafka broker was running (pid {pid} of {run} had exited)"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while pid_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    boot_file.unlink(missing_ok=True)
    return f"stopped the Kafka broker at {bootstrap} (pid {pid}; data in {run})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "start", "status", "resolve"])
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="run directory (data, log, pid)"
    )
    args = parser.parse_args()
    run: Path = args.dir.resolve()
    if args.command == "resolve":
        print(resolve_jars())
    elif args.command == "up":
        bootstrap = up(run)
        print(bootstrap)
        secs = run / "startup_seconds"
        if secs.exists():
            print(
                f"Kafka {kafka_version()} up at {bootstrap} in {secs.read_text()}s "
                f"(log: {run}/broker.log)",
                file=sys.stderr,
            )
    elif args.command == "start":
        print(start(run))
    elif args.command == "down":
        print(down(run), file=sys.stderr)
    else:
        state = read_state(run)
        print(f"running pid={state[0]} bootstrap={state[1]}" if state else "stopped")
        sys.exit(0 if state else 1)


if __name__ == "__main__":
    main()
