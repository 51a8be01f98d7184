"""One crash case: feed the input while the application runs, SIGKILL it at random moments,
restart it, (once) restart the broker and pause it past its session timeout, then read the
outputs read_committed and compare them with the reference.

Kill modes, drawn at random for each kill (weights in :data:`MODES`):

* ``uniform``: at a uniformly random moment 0.2-2.5 s after the process started processing;
* ``commit``: after a random wait, as soon as the process enters a commit (watched through
  its phase file, see :mod:`tests.crash.phases`);
* ``restore``: right after a restart, as soon as the process is restoring its state
  (or has just started processing when there was nothing to restore);
* ``start``: 0-1.2 s after the process started (importing, connecting, joining the group).

Every kill records the phase the process was really in when it died (read from its phase
file after death), which is what the report counts.

A zombie (``zombies`` episodes per case, spread over the run): the running process is
SIGSTOPped; a second process (another "machine": its own state directory) joins the group
and, once the first one's session has timed out, gets its partitions and commits; the first
one is then SIGCONTed: its open transaction (and its late commit) must be fenced and nothing
of it may become visible. Then the zombie is killed and the second process goes on.

The broker restart (Kafka, ``broker_restart``, a third of the way): the broker of this run is
stopped for 3 s and started again, keeping its data and ports.
"""

from __future__ import annotations

import contextlib
import random
import re
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import strom.log
from tests.crash import topics as io
from tests.crash import workload as w
from tests.crash.processes import Instance, command
from tests.kafka_broker import broker

MODES = {"uniform": 0.5, "commit": 0.25, "restore": 0.15, "start": 0.10}


@dataclass
class Case:
    """What to run."""

    framework: str = "strom"
    log: str = "local"
    """``kafka`` or ``local``."""
    pipeline: str = "stateless"
    kills: int = 10
    zombies: int = 0
    broker_restart: bool = False
    """Kafka only: needs ``broker_dir`` (a broker of this run alone)."""
    rate: int = 500
    """Input records per second while the kills go on."""
    commit_interval: float = 0.1
    partitions: int = 4
    guarantee: str = "exactly-once"
    session_ms: int = 6000
    static_membership: bool = True
    """Kafka: restarts keep their ``group.instance.id`` (no wait for the killed member's
    session to time out); the zombie's replacement has another one."""
    transaction_timeout: float = 30.0
    grace_ms: int | None = None
    """The windows' grace (default :data:`~tests.crash.workload.GRACE_MS`)."""
    seed: int = 0
    settle_timeout: float = 180.0

    @property
    def scenario(self) -> str:
        """What the case does to the app: ``kills`` (with the broker restart on Kafka) or
        ``zombies`` alone."""
        return "kills" if self.kills else "zombies"

    @property
    def name(self) -> str:
        return f"{self.framework}-{self.log}-{self.pipeline}-{self.scenario}"


@dataclass
class Kill:
    """One SIGKILL."""

    number: int
    instance: int
    mode: str
    phase: str
    at_s: float
    """Seconds since the case started."""
    uptime_s: float
    """Seconds the killed process had lived."""


@dataclass
class Result:
    """What one case did and found."""

    case: Case
    date: str = ""
    runtime_s: float = 0.0
    kills: list[Kill] = field(default_factory=list)
    restarts: int = 0
    unexpected_exits: list[str] = field(default_factory=list)
    records_in: int = 0
    input_ok: bool = True
    input_problem: str = ""
    checks: list[w.Check] = field(default_factory=list)
    zombies: list[dict[str, Any]] = field(default_factory=list)
    broker_restart: dict[str, Any] = field(default_factory=dict)
    final_lag: int = -1
    settled: bool = False
    errors: list[str] = field(default_factory=list)
    workdir: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.input_ok
            and not self.errors
            and all(c.ok for c in self.checks)
            and bool(self.checks)
            and all(z.get("fenced") is not False for z in self.zombies)
        )

    def totals(self) -> dict[str, int]:
        return {
            "outputs": sum(c.outputs for c in self.checks),
            "expected": sum(c.expected for c in self.checks),
            "duplicates": sum(c.duplicates for c in self.checks),
            "missing": sum(c.missing for c in self.checks),
            "mismatches": sum(c.mismatches for c in self.checks),
        }

    def phases(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for k in self.kills:
            out[k.phase or "?"] = out.get(k.phase or "?", 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["checks"] = [c.as_dict() for c in self.checks]
        d["ok"] = self.ok
        d["totals"] = self.totals()
        d["phases"] = self.phases()
        return d

    def summary(self) -> str:
        t = self.totals()
        return (
            f"{self.case.name}: {'OK' if self.ok else 'FAILED'}: {len(self.kills)} kills "
            f"(phases {self.phases()}), {self.restarts} restarts, {self.records_in} records "
            f"in, {t['outputs']} outputs (expected {t['expected']}), {t['duplicates']} "
            f"duplicates, {t['missing']} missing, {t['mismatches']} mismatches, "
            f"{self.runtime_s:.0f} s" + (f"; errors: {self.errors}" if self.errors else "")
        )


def say(text: str) -> None:
    print(f"[crash] {text}", file=sys.stderr, flush=True)


class Run:
    """Runs one :class:`Case` on the log at ``url``."""

    def __init__(
        self,
        case: Case,
        url: str,
        workdir: Path,
        *,
        python: str | None = None,
        broker_dir: Path | None = None,
    ) -> None:
        if case.broker_restart and broker_dir is None:
            raise ValueError("a broker restart needs the run directory of a broker of its own")
        self.case = case
        self.url = url
        self.workdir = workdir
        self.python = python
        self.broker_dir = broker_dir
        self.rng = random.Random(case.seed)
        self.result = Result(case, workdir=str(workdir))
        self.instances: list[Instance] = []
        self._started = 0.0
        tag = uuid.uuid4().hex[:8]
        self.app = f"crash-{case.framework}-{case.pipeline}-{tag}"
        self.topics = {"in": f"crash-in-{tag}"}
        for role in w.outputs_of(case.pipeline):
            self.topics[role] = f"crash-{role}-{tag}"

    # -- processes --------------------------------------------------------------------------

    def _env(self, member: str) -> dict[str, str]:
        c = self.case
        # The zombie's replacement stands for another machine: a state directory of its own
        # (on one machine, the paused process would still hold its stores' locks).
        env = {
            "CRASH_APP": self.app,
            "CRASH_BROKER": self.url,
            "CRASH_IN": self.topics["in"],
            "CRASH_PIPELINE": c.pipeline,
            "CRASH_GUARANTEE": c.guarantee,
            "CRASH_COMMIT_INTERVAL": str(c.commit_interval),
            "CRASH_SESSION_MS": str(c.session_ms),
            "CRASH_STATE_DIR": str(self.workdir / f"state-{member}"),
            "CRASH_PARTITIONS": str(c.partitions),
            "CRASH_INSTANCE": member if c.static_membership and c.log == "kafka" else "",
            # Longer than the zombie's pause: the broker must not abort the zombie's
            # transaction by itself, its late commit must be refused.
            "CRASH_TRANSACTION_TIMEOUT": str(c.transaction_timeout),
        }
        for role in w.outputs_of(c.pipeline):
            env[f"CRASH_OUT_{role.upper()}"] = self.topics[role]
        if c.grace_ms is not None:
            env["CRASH_GRACE_MS"] = str(c.grace_ms)
        return env

    def _start(self, member: str) -> Instance:
        inst = Instance(
            len(self.instances),
            command(self.case.framework, self.python),
            self._env(member),
            self.workdir,
            member,
        )
        self.instances.append(inst)
        return inst

    def _now(self) -> float:
        return time.monotonic() - self._started

    def _wait_phase(self, inst: Instance, phases: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if inst.phase() in phases:
                return True
            if not inst.alive():
                return False
            time.sleep(0.002)
        return False

    def _exited(self, inst: Instance) -> bool:
        """True (and recorded) when ``inst`` exited by itself."""
        if inst.alive() or inst.killed:
            return False
        inst.killed = True
        self.result.unexpected_exits.append(
            f"instance {inst.number} exited by itself with status {inst.proc.returncode}:\n"
            + inst.tail(40)
        )
        say(f"instance {inst.number} exited by itself ({inst.proc.returncode})")
        if len(self.result.unexpected_exits) > max(10, self.case.kills):
            raise RuntimeError(
                "the application keeps exiting by itself; the last time:\n"
                + self.result.unexpected_exits[-1]
            )
        return True

    def _kill(self, inst: Instance, mode: str) -> None:
        uptime = inst.uptime()
        phase = inst.kill()
        kill = Kill(len(self.result.kills) + 1, inst.number, mode, phase, self._now(), uptime)
        self.result.kills.append(kill)
        say(
            f"kill {kill.number} ({mode}) at {kill.at_s:.1f} s, "
            f"after {uptime:.2f} s: died in {phase or '?'}"
        )

    def _one_kill(self, inst: Instance, mode: str) -> None:
        rng = self.rng
        if mode == "start":
            time.sleep(rng.uniform(0.0, 1.2))
        elif mode == "restore":
            self._wait_phase(inst, {"restore", "process"}, 30)
            time.sleep(rng.uniform(0.0, 0.02))
        else:
            if not self._wait_phase(inst, {"process", "commit"}, 60):
                self._exited(inst)
            time.sleep(rng.uniform(0.2, 2.5) if mode == "uniform" else rng.uniform(0.2, 1.0))
            if mode == "commit" and self._wait_phase(inst, {"commit"}, 10):
                # Somewhere inside it: the commit takes a few ms (changelogs, offsets, the
                # transaction's commit), the kill lands within ~0.1 ms of the call.
                time.sleep(rng.uniform(0.0, 0.01))
        if self._exited(inst):
            return
        self._kill(inst, mode)

    # -- the episodes -----------------------------------------------------------------------

    def _zombie(self, inst: Instance) -> Instance:
        """Pause ``inst`` past its session, let a second process take over, resume it."""
        c = self.case
        self._wait_phase(inst, {"process", "commit"}, 60)
        time.sleep(self.rng.uniform(0.2, 1.0))
        paused_at = self._now()
        lines_before = len(inst.log().splitlines())
        inst.pause()
        say(f"zombie: instance {inst.number} paused at {paused_at:.1f} s")
        second = self._start("crash-b" if inst.member == "crash-a" else "crash-a")
        session = c.session_ms / 1000
        # The second process owns the partitions once the first one's session is over.
        time.sleep(session + 1.0)
        took_over = self._wait_phase(second, {"process", "commit"}, 60)
        time.sleep(2.0)  # it processes and commits
        inst.resume()
        resumed_at = self._now()
        say(f"zombie: instance {inst.number} resumed at {resumed_at:.1f} s")
        time.sleep(3.0)  # it rejoins and tries its late commit
        after = "\n".join(inst.log().splitlines()[lines_before:])
        # What the zombie logged once resumed: its late commit refused (an abort, a fencing
        # or group-membership error) or not.
        evidence = [
            line.strip()[:300]
            for line in after.splitlines()
            if re.search(r"fenc|abort|generation|unknown.member|lost|revoked", line, re.I)
        ]
        refused = r"fenc|abort|illegal.generation|unknown.member"
        fenced = any(re.search(refused, line, re.I) for line in evidence)
        self.result.zombies.append(
            {
                "instance": inst.number,
                "paused_s": round(resumed_at - paused_at, 1),
                "session_s": session,
                "second_took_over": took_over,
                "fenced": fenced,
                "evidence": evidence[:6],
            }
        )
        if inst.alive():
            self._kill(inst, "zombie")
        else:
            self._exited(inst)
        self.result.restarts += 1
        return second

    def _broker_restart(self, inst: Instance) -> None:
        assert self.broker_dir is not None
        self._wait_phase(inst, {"process", "commit"}, 60)
        time.sleep(self.rng.uniform(0.2, 1.0))
        at = self._now()
        say(f"broker restart at {at:.1f} s")
        self._broker("down")
        time.sleep(3.0)
        self._broker("start")
        back = self._now()
        self.result.broker_restart = {"down_at_s": round(at, 1), "up_at_s": round(back, 1)}
        say(f"broker back at {back:.1f} s")

    def _broker(self, what: str) -> None:
        assert self.broker_dir is not None
        broker(what, self.broker_dir)

    # -- the case ---------------------------------------------------------------------------

    def _plan(self) -> list[str]:
        """The run's events in order: kills, the broker restart a third of the way, the
        zombies spread evenly."""
        c = self.case
        events = ["kill"] * c.kills
        for i in range(c.zombies, 0, -1):
            events.insert(len(events) * i // (c.zombies + 1), "zombie")
        if c.broker_restart:
            events.insert(len(events) // 3, "broker")
        return events

    def execute(self) -> Result:
        c = self.case
        r = self.result
        r.date = time.strftime("%Y-%m-%d %H:%M %Z")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._started = time.monotonic()
        log = strom.log.connect(self.url)
        feeder: io.Feeder | None = None
        try:
            io.create_topics(log, list(self.topics.values()), c.partitions)
            t0 = int(time.time()) * 1000
            feeder = io.Feeder(log, self.topics["in"], t0, c.rate)
            feeder.start()
            say(f"{c.name}: app {self.app}, {c.kills} kills, log {self.url}")
            inst = self._start("crash-a")
            for event in self._plan():
                while self._exited(inst):
                    inst = self._start(inst.member)
                    r.restarts += 1
                if event == "broker":
                    self._broker_restart(inst)
                elif event == "zombie":
                    inst = self._zombie(inst)
                else:
                    mode = self.rng.choices(list(MODES), weights=list(MODES.values()))[0]
                    self._one_kill(inst, mode)
                    inst = self._start(inst.member)
                    r.restarts += 1
            # The last process catches up with the input, ticks included.
            self._wait_phase(inst, {"process", "commit"}, 60)
            r.records_in = feeder.finish()
            say(f"input done: {r.records_in} records; waiting for the app to settle")
            self._settle(log, inst)
            status = inst.stop()
            if status != 0:
                r.errors.append(f"the last instance stopped with status {status}")
            self._verify(log, t0)
        except Exception as exc:
            r.errors.append(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            for inst in self.instances:
                if inst.alive():
                    inst.stop(10)
            if feeder is not None and feeder.is_alive():
                feeder.finish(10)
            log.close()
            r.runtime_s = self._now()
        say(r.summary())
        return r

    def _settle(self, log: strom.log.Log, inst: Instance) -> None:
        """Wait until the app has committed all its input and its repartition topics, and
        its outputs stopped growing.

        strom: its group's lag is 0 (it commits past the transactions' markers) and the
        outputs' end offsets stay the same for 2 s. A peer may keep its last transaction open
        while no input comes (Quix commits when it processes), and a killed instance's open
        transaction (a random transactional id, not fenced by the restart) holds the
        repartition topics' readers until the broker aborts it: its outputs must stay the
        same for longer than the transaction timeout. Then the app is stopped gracefully (its
        last commit) and the outputs are read."""
        deadline = time.monotonic() + self.case.settle_timeout
        strom_app = self.case.framework == "strom"
        needed = 4 if strom_app else int((self.case.transaction_timeout + 5) / 0.5)
        previous: dict[Any, int] | None = None
        still = 0
        while time.monotonic() < deadline:
            if self._exited(inst):
                inst = self._start(inst.member)
                self.result.restarts += 1
            time.sleep(0.5)
            try:
                internal = io.internal_topics(log, self.app)
                ends = _ends(log, [t for role, t in self.topics.items() if role != "in"] + internal)
                lag = io.lag(log, self.app, [self.topics["in"], *internal]) if strom_app else 0
            except strom.errors.StromError:
                continue
            if lag == 0 and ends == previous:
                still += 1
                if still >= needed:
                    break
            else:
                still = 0
            previous = ends
        else:
            self.result.errors.append(
                f"the app did not settle within {self.case.settle_timeout:.0f} s"
            )
        self.result.settled = still >= needed
        with contextlib.suppress(strom.errors.StromError):
            internal = io.internal_topics(log, self.app)
            self.result.final_lag = io.lag(log, self.app, [self.topics["in"], *internal])

    def _verify(self, log: strom.log.Log, t0: int) -> None:
        r = self.result
        inputs = io.read_values(log, self.topics["in"])
        got = w.check_input(inputs)
        r.input_ok = got.ok and got.records == r.records_in
        if not r.input_ok:
            r.input_problem = (
                f"input holds {got.records} records of {r.records_in} written, "
                f"{got.duplicates} duplicated, {got.missing} missing seqs"
            )
        outputs = {
            role: io.read_values(log, self.topics[role])
            for role in w.outputs_of(self.case.pipeline)
        }
        r.checks = w.check_all(self.case.pipeline, inputs, outputs, t0)


def _ends(log: strom.log.Log, names: list[str]) -> dict[Any, int]:
    admin = log.admin()
    try:
        tps = [
            strom.log.TopicPartition(name, p)
            for name in names
            for p in range(admin.describe_topic(name).partitions)
        ]
        return dict(admin.end_offsets(tps))
    finally:
        admin.close()
