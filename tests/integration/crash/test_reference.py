"""The harness's judge: the reference of each pipeline and the comparison catch every kind of
wrong output (a duplicate, a gap, a count restored ahead, a window emitted twice or wrong).
No services: outputs are built by hand from the reference pipelines."""

from __future__ import annotations

from typing import Any

from tests.crash import workload as w

T0 = 1_700_000_000_000


def _inputs(n: int) -> list[dict[str, Any]]:
    values = [w.value(seq, T0) for seq in range(n)]
    return values + w.ticks(n, T0 + (n - 1) * w.STEP_MS)


def _counts(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    acc: dict[str, dict[str, Any]] = {}
    out = []
    for v in inputs:
        a = acc.get(v["user"], {"user": v["user"], "n": 0, "sum": 0})
        a = {"user": v["user"], "n": a["n"] + 1, "sum": a["sum"] + v["seq"]}
        acc[v["user"]] = a
        out.append(a)
    return out


def _windows(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"user": u, "start": s, "end": s + w.WINDOW_MS, "count": c}
        for (u, s), c in w.window_reference(inputs, T0).items()
    ]


def test_the_input_has_one_tick_per_user_and_only_ticks_leave_their_window_open() -> None:
    inputs = _inputs(500)
    ticks = [v for v in inputs if w.is_tick(v, T0)]
    assert sorted(v["user"] for v in ticks) == sorted(f"u{i}" for i in range(w.USERS))
    assert w.check_input(inputs).ok
    assert w.check_input(inputs[:10] + inputs[11:]).missing == 1
    assert w.check_input([*inputs, inputs[3]]).duplicates == 1


def test_exact_outputs_pass() -> None:
    inputs = _inputs(2000)
    plain = [w.plain(v) for v in inputs if w.keep_plain(v)]
    checks = w.check_all("stateless", inputs, {"plain": plain, "counts": _counts(inputs)}, T0)
    assert all(c.ok for c in checks), [c.as_dict() for c in checks]
    windows = w.check_all("windowed", inputs, {"windows": _windows(inputs)}, T0)
    assert windows[0].ok and windows[0].expected > 0, windows[0].as_dict()


def test_plain_duplicates_and_gaps_are_counted() -> None:
    inputs = _inputs(300)
    plain = [w.plain(v) for v in inputs if w.keep_plain(v)]
    check = w.check_plain(inputs, [*plain[:50], *plain[40:50], *plain[60:]])
    assert (check.duplicates, check.missing, check.mismatches) == (10, 10, 0)
    assert not check.ok


def test_a_count_restored_ahead_or_behind_is_caught() -> None:
    inputs = _inputs(1000)
    exact = _counts(inputs)
    # Ahead: one user's state restored with an aborted update (its next count skips one).
    user = exact[100]["user"]
    ahead = [{**o, "n": o["n"] + 1} if o["user"] == user and o["n"] >= 10 else o for o in exact]
    check = w.check_counts(inputs, ahead)
    assert check.missing == 1 and check.mismatches == 1 and not check.ok
    # Behind: a state restored from before a committed update repeats counts.
    behind = [*exact[:200], *exact[150:]]
    check = w.check_counts(inputs, behind)
    assert check.duplicates == 50 and not check.ok
    # Right counts, wrong sums (a record counted in place of another).
    swapped = [dict(o) for o in exact]
    swapped[-100]["sum"] += 1
    assert not w.check_counts(inputs, swapped).ok


def test_windows_emitted_twice_missing_or_wrong_are_caught() -> None:
    inputs = _inputs(5000)
    exact = _windows(inputs)
    check = w.check_windows(inputs, [*exact, exact[3]], T0)
    assert (check.duplicates, check.missing, check.mismatches) == (1, 0, 0)
    check = w.check_windows(inputs, exact[1:], T0)
    assert (check.duplicates, check.missing, check.mismatches) == (0, 1, 0)
    wrong = [dict(o) for o in exact]
    wrong[0]["count"] += 1
    check = w.check_windows(inputs, wrong, T0)
    assert (check.duplicates, check.missing, check.mismatches) == (0, 0, 1)


def test_late_records_account_for_what_a_window_lacks_once_each() -> None:
    inputs = _inputs(5000)
    exact = _windows(inputs)
    first = exact[0]
    late = [
        v
        for v in inputs
        if v["user"] == first["user"] and w.window_start(v["ts"]) == first["start"]
    ][:2]
    fewer = [{**first, "count": first["count"] - 2}, *exact[1:]]
    check = w.check_windows(inputs, fewer, T0, late)
    assert check.ok and check.late == 2, check.as_dict()
    # Late and counted too (a record processed twice), or late twice.
    assert w.check_windows(inputs, exact, T0, late).mismatches == 1
    assert w.check_windows(inputs, fewer, T0, [*late, late[0]]).duplicates == 1
    # A window all of whose records were late is not emitted, and not missing.
    all_late = [
        v
        for v in inputs
        if v["user"] == first["user"] and w.window_start(v["ts"]) == first["start"]
    ]
    check = w.check_windows(inputs, exact[1:], T0, all_late)
    assert check.ok, check.as_dict()
