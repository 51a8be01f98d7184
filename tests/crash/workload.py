"""The crash harness's input and its reference: what a correct exactly-once run outputs.

Standard library only: the peers' apps (in their own virtualenvs) import it too.

The input is a pure function of its sequence number ``seq`` (0, 1, 2...), so the reference
needs nothing but the input read back:

* source key ``s{seq % 64}`` (the input topic is partitioned by it);
* value ``{"seq": seq, "user": "u{seq * 7 % USERS}", "ts": t0 + seq * STEP_MS}``, and the
  record's timestamp is ``ts`` (event time);
* the run ends with one *tick* per user, ``TICK_MS`` of event time after the last record, so
  that every window of the real records closes (a tick's own window never does).

The pipelines' outputs, the same for every framework (JSON values):

* ``plain`` (stateless): every record with ``seq % 10 != 3``, as ``{"seq": seq, "user": u}``;
* ``counts`` (re-keyed by user, a repartition, then a rolling aggregate): for every record,
  ``{"user": u, "n": records of u so far, "sum": sum of their seqs}``; exactly-once means the
  ``n`` of a user's outputs, in output order, are exactly 1, 2, ..., n_u, and the last sum
  is the sum of the user's seqs;
* ``windows`` (re-keyed by user, tumbling windows of ``WINDOW_MS`` in event time, counted,
  emitted once when the window closes): ``{"user": u, "start": s, "end": e, "count": c}``,
  at most one per (user, window) of the real records; and ``late``: the input values of the
  records that arrived after their window closed. Exactly-once means each window's count
  plus its late records equals the reference count, no window is emitted twice, no record
  is late twice, and a window whose records were not all late is emitted.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

USERS = 31
STEP_MS = 2
"""Event time between two consecutive records (ms): at 500 records/s, event time runs with
the wall clock."""
WINDOW_MS = 1_000
GRACE_MS = 2_000
"""Short: windows close all along the run, so kills land in closing windows too. After a
restart one input partition can run seconds of event time ahead of another, so some records
are late: they go to the late topic, and the check accounts for them (which records are late
depends on how processing interleaved, which exactly-once does not fix)."""
TICK_MS = 10 * 60_000
PLAIN_DROP = 3
"""The stateless branch drops ``seq % 10 == PLAIN_DROP``."""

OUTPUTS = ("plain", "counts", "windows", "late")


def source_key(seq: int) -> str:
    """The input record's key."""
    return f"s{seq % 64}"


def user_of(seq: int) -> str:
    """The user a record belongs to (the key after the repartition)."""
    return f"u{seq * 7 % USERS}"


def value(seq: int, t0: int, *, tick_at: int | None = None) -> dict[str, Any]:
    """The input value of ``seq``; ``tick_at``: a tick's event time."""
    ts = t0 + seq * STEP_MS if tick_at is None else tick_at
    return {"seq": seq, "user": user_of(seq), "ts": ts}


def ticks(first_seq: int, last_ts: int) -> list[dict[str, Any]]:
    """One record per user, ``TICK_MS`` after ``last_ts``: closes every real window."""
    out: list[dict[str, Any]] = []
    seq = first_seq
    users: set[str] = set()
    while len(users) < USERS:
        user = user_of(seq)
        if user not in users:
            users.add(user)
        out.append(value(seq, 0, tick_at=last_ts + TICK_MS))
        seq += 1
    return out


def keep_plain(v: Mapping[str, Any]) -> bool:
    """The stateless branch's filter."""
    return bool(v["seq"] % 10 != PLAIN_DROP)


def plain(v: Mapping[str, Any]) -> dict[str, Any]:
    """The stateless branch's map."""
    return {"seq": v["seq"], "user": v["user"]}


def window_start(ts: int) -> int:
    """The start of the tumbling window holding event time ``ts``."""
    return ts - ts % WINDOW_MS


def encode(v: Mapping[str, Any]) -> bytes:
    """JSON bytes as every framework writes and reads them."""
    return json.dumps(v, separators=(",", ":")).encode()


# -- the reference and the comparison -------------------------------------------------------


@dataclass
class Check:
    """One output compared with its reference."""

    output: str
    expected: int = 0
    """Outputs a correct run writes."""
    outputs: int = 0
    """Outputs read (read_committed)."""
    duplicates: int = 0
    """Outputs beyond the first of the same result."""
    missing: int = 0
    """Reference results not found."""
    mismatches: int = 0
    """Results present but wrong (a window's count, a user's sum, an unknown result)."""
    late: int = 0
    """Records the pipeline found late (windows only)."""
    short: int = 0
    """Wrong results below the reference (records dropped; windows only)."""
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exactly the reference: no duplicate, nothing missing, nothing wrong."""
        return (
            self.duplicates == 0
            and self.missing == 0
            and self.mismatches == 0
            and self.outputs == self.expected
        )

    def example(self, text: str) -> None:
        if len(self.examples) < 8:
            self.examples.append(text)

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "expected": self.expected,
            "outputs": self.outputs,
            "duplicates": self.duplicates,
            "missing": self.missing,
            "mismatches": self.mismatches,
            "late": self.late,
            "short": self.short,
            "examples": list(self.examples),
        }


@dataclass
class InputCheck:
    """The input read back: every seq 0..n-1 exactly once (else the producer, not the app
    under test, is at fault and the run says nothing)."""

    records: int
    duplicates: int
    missing: int

    @property
    def ok(self) -> bool:
        return self.duplicates == 0 and self.missing == 0


def check_input(values: Sequence[Mapping[str, Any]]) -> InputCheck:
    """Every seq from 0 to the largest exactly once."""
    seen = Counter(int(v["seq"]) for v in values)
    top = max(seen, default=-1)
    return InputCheck(
        len(values),
        sum(c - 1 for c in seen.values() if c > 1),
        sum(1 for s in range(top + 1) if s not in seen),
    )


def is_tick(v: Mapping[str, Any], t0: int) -> bool:
    """True for the end-of-run ticks (event time far after the records')."""
    return int(v["ts"]) != t0 + int(v["seq"]) * STEP_MS


def check_plain(inputs: Sequence[Mapping[str, Any]], outputs: Iterable[Any]) -> Check:
    """``plain``: each kept record's output exactly once."""
    check = Check("plain")
    want = {int(v["seq"]): plain(v) for v in inputs if keep_plain(v)}
    check.expected = len(want)
    got: Counter[int] = Counter()
    for out in outputs:
        check.outputs += 1
        seq = int(out["seq"])
        if seq not in want or want[seq] != dict(out):
            check.mismatches += 1
            check.example(f"unexpected output {out}")
            continue
        got[seq] += 1
        if got[seq] == 2:
            check.example(f"seq {seq} written more than once")
    check.duplicates = sum(c - 1 for c in got.values())
    missed = [s for s in want if s not in got]
    check.missing = len(missed)
    if missed:
        check.example(f"missing seqs (first): {sorted(missed)[:10]}")
    return check


def check_counts(inputs: Sequence[Mapping[str, Any]], outputs: Iterable[Any]) -> Check:
    """``counts``: per user, in output order, n = 1, 2, ..., n_u once each; the sums follow
    the user's records (each output's sum minus the previous one is one of the user's
    seqs, each seq used once), the last sum is the total."""
    check = Check("counts")
    seqs: dict[str, set[int]] = defaultdict(set)
    for v in inputs:
        seqs[str(v["user"])].add(int(v["seq"]))
    check.expected = sum(len(s) for s in seqs.values())
    by_user: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for out in outputs:
        check.outputs += 1
        by_user[str(out["user"])].append((int(out["n"]), int(out["sum"])))
    for user, emitted in by_user.items():
        mine = seqs.get(user)
        if mine is None:
            check.mismatches += len(emitted)
            check.example(f"outputs for unknown user {user!r}")
            continue
        ns = Counter(n for n, _ in emitted)
        dups = sum(c - 1 for c in ns.values() if c > 1)
        check.duplicates += dups
        expected_ns = set(range(1, len(mine) + 1))
        missing = expected_ns - set(ns)
        check.missing += len(missing)
        beyond = sum(c for n, c in ns.items() if n not in expected_ns)
        check.mismatches += beyond
        if dups:
            repeated = sorted(n for n, c in ns.items() if c > 1)
            check.example(f"{user}: counts emitted more than once: {repeated[:10]}")
        if missing:
            check.example(f"{user}: counts never emitted: {sorted(missing)[:10]}")
        if beyond:
            check.example(f"{user}: counts beyond its {len(mine)} records")
        if dups or missing or beyond:
            continue
        # A clean sequence 1..n: it must be in order, and the sums must add up.
        previous_n, previous_sum = 0, 0
        used: set[int] = set()
        for n, total in emitted:
            step = total - previous_sum
            if n != previous_n + 1 or step not in mine or step in used:
                check.mismatches += 1
                check.example(f"{user}: output n={n} sum={total} after n={previous_n}")
                break
            used.add(step)
            previous_n, previous_sum = n, total
    for user, mine in seqs.items():
        if user not in by_user:
            check.missing += len(mine)
            check.example(f"{user}: no output at all")
    return check


def window_reference(inputs: Sequence[Mapping[str, Any]], t0: int) -> dict[tuple[str, int], int]:
    """(user, window start) -> count, over the real records (ticks' windows never close)."""
    ref: Counter[tuple[str, int]] = Counter()
    for v in inputs:
        if not is_tick(v, t0):
            ref[str(v["user"]), window_start(int(v["ts"]))] += 1
    return dict(ref)


def check_windows(
    inputs: Sequence[Mapping[str, Any]],
    outputs: Iterable[Any],
    t0: int,
    late: Iterable[Any] = (),
) -> Check:
    """``windows`` (and ``late``): each (user, window) result at most once; its count plus
    its late records is the reference count; every late record once, and a real one."""
    check = Check("windows")
    ref = window_reference(inputs, t0)
    seqs = {int(v["seq"]): v for v in inputs}
    late_by: Counter[tuple[str, int]] = Counter()
    late_seen: Counter[int] = Counter()
    for v in late:
        seq = int(v["seq"])
        late_seen[seq] += 1
        if late_seen[seq] > 1:
            check.duplicates += 1
            check.example(f"record {seq} written to the late topic again")
            continue
        if seqs.get(seq) != v or is_tick(v, t0):
            check.mismatches += 1
            check.example(f"unexpected late record {v}")
            continue
        late_by[str(v["user"]), window_start(int(v["ts"]))] += 1
    check.late = sum(late_by.values())
    seen: dict[tuple[str, int], int] = {}
    for out in outputs:
        check.outputs += 1
        key = (str(out["user"]), int(out["start"]))
        if key in seen:
            check.duplicates += 1
            check.example(f"window {key} emitted again: {out}")
            continue
        seen[key] = int(out["count"])
        want = ref.get(key)
        if want is None:
            check.mismatches += 1
            check.example(f"window {key} is not in the reference: {out}")
        elif int(out["count"]) + late_by[key] != want or int(out["end"]) != key[1] + WINDOW_MS:
            check.mismatches += 1
            check.short += int(out["count"]) + late_by[key] < want
            check.example(f"window {key}: {out} + {late_by[key]} late, reference count {want}")
    # A window all of whose records were late is never emitted: that is not missing.
    check.expected = sum(1 for key, n in ref.items() if late_by[key] < n)
    missed = [k for k in ref if k not in seen and late_by[k] < ref[k]]
    check.missing = len(missed)
    if missed:
        check.example(f"windows never emitted (first): {sorted(missed)[:5]}")
    return check


def check_all(
    pipeline: str,
    inputs: Sequence[Mapping[str, Any]],
    outputs: Mapping[str, Iterable[Any]],
    t0: int,
) -> list[Check]:
    """The checks of ``pipeline``'s outputs (``stateless``: plain and counts;
    ``windowed``: windows)."""
    if pipeline == "stateless":
        return [check_plain(inputs, outputs["plain"]), check_counts(inputs, outputs["counts"])]
    if pipeline == "windowed":
        return [check_windows(inputs, outputs["windows"], t0, outputs.get("late", ()))]
    raise ValueError(f"unknown pipeline {pipeline!r}")


def outputs_of(pipeline: str) -> tuple[str, ...]:
    """The output topics (by role) a pipeline writes."""
    return ("plain", "counts") if pipeline == "stateless" else ("windows", "late")
