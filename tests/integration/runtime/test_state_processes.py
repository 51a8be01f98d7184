"""Stateful applications as several real processes on Kafka: queries answered for keys any
process owns, and a standby replica that takes over with only the changelog's tail to read."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import strom
from tests.conftest import unique
from tests.integration.runtime.processes import Processes, connected, stop
from tests.integration.runtime.support import create, produce

APP = "tests.integration.runtime.state_app:app"

pytestmark = pytest.mark.kafka


def wait_for(what: str, done: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = done()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def endpoint(group: Processes, proc: subprocess.Popen[bytes]) -> str:
    found = re.search(r"ops endpoint serving on (http://\S+)", group.stderr(proc))
    return found.group(1) if found else ""


def query(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as failed:
        return failed.code, json.loads(failed.read())


def setup(
    kafka_url: str, tmp_path: Path, n: int, keys: int, **env: str
) -> tuple[dict[str, str], Any]:
    app, inp, out = unique("stateful"), unique("in"), unique("out")
    with connected(kafka_url) as log:
        create(log, inp, 4)
        create(log, out, 4)
        topic = strom.App("producer", broker=kafka_url).topic(inp)
        produce(log, topic, [(f"k{i % keys}", {"i": i}) for i in range(n)])
    return {
        "STROM_T_APP": app,
        "STROM_T_BROKER": kafka_url,
        "STROM_T_IN": inp,
        "STROM_T_OUT": out,
        **env,
    }, topic


def test_any_process_answers_for_any_key(
    kafka_url: str, procs: Callable[..., Processes], tmp_path: Path
) -> None:
    env, _ = setup(kafka_url, tmp_path, 400, 20)
    group = procs(**env)
    first = group.start(APP, STROM_T_STATE=str(tmp_path / "a"))
    second = group.start(APP, STROM_T_STATE=str(tmp_path / "b"))
    urls = [wait_for("endpoints", lambda p=p: endpoint(group, p)) for p in (first, second)]

    def answers(url: str) -> dict[str, tuple[int, str]] | None:
        got = {}
        for k in range(20):
            code, body = query(f"{url}/stores/per-key/keys/k{k}")
            if code != 200 or body["value"] != 20:
                return None
            got[f"k{k}"] = (body["value"], body["served_by"])
        return got

    def split() -> bool:
        held = [query(f"{url}/stores")[1].get("stores", {}).get("per-key", []) for url in urls]
        return bool(held[0]) and bool(held[1]) and sorted(held[0] + held[1]) == [0, 1, 2, 3]

    wait_for("the partitions to be split between the processes", split)

    # Both processes hold partitions; each answers for every key (forwarding the others').
    def agreeing() -> dict[str, tuple[int, str]] | None:
        # Partitions may still move while the group settles: ask until both agree.
        first_view, second_view = answers(urls[0]), answers(urls[1])
        return first_view if first_view and first_view == second_view else None

    agreed = wait_for("both processes to give the same answers", agreeing)
    assert len({served for _, served in agreed.values()}) == 2
    # After the second leaves, the first owns (and answers from) everything.
    assert stop(second) == 0, group.stderr(second)
    mine = wait_for(
        "the first process to serve every key itself",
        lambda: (a := answers(urls[0])) and len({s for _, s in a.values()}) == 1 and a,
    )
    assert set(mine) == {f"k{k}" for k in range(20)}
    assert stop(first) == 0, group.stderr(first)


def restored(stderr: str) -> dict[int, int]:
    """Changelog records restored per task partition (the last restore of each)."""
    return {
        int(p): int(n)
        for p, n in re.findall(r"<StateTask [^\[]+\[(\d+)\]> restored: (\d+) changelog", stderr)
    }


@pytest.mark.parametrize("standbys", [1, 0])
def test_a_standby_takes_over_reading_only_the_tail(
    kafka_url: str, procs: Callable[..., Processes], tmp_path: Path, standbys: int
) -> None:
    env, _ = setup(kafka_url, tmp_path, 3000, 600, STROM_T_STANDBYS=str(standbys))
    group = procs(**env)
    first = group.start(APP, STROM_T_STATE=str(tmp_path / "a"))
    wait_for("the first process to count everything", lambda: "restored" in group.stderr(first))
    time.sleep(2)
    second = group.start(APP, STROM_T_STATE=str(tmp_path / "b"))
    wait_for("the second process to get partitions", lambda: "assigned in" in group.stderr(second))
    if standbys:
        wait_for(
            "a standby copy on the second process",
            lambda: "keeping a standby copy" in group.stderr(second),
        )
    time.sleep(3)  # the standby copies catch up with the changelogs
    mine = set(restored(group.stderr(second)))
    theirs = {0, 1, 2, 3} - mine
    assert mine and theirs, "the partitions were not split"
    mark = len(group.stderr(second))
    first.kill()
    first.wait(10)
    killed = time.monotonic()
    taken = wait_for(
        "the second process to restore the killed one's tasks",
        lambda: (
            theirs <= set(restored(group.stderr(second)[mark:]))
            and restored(group.stderr(second)[mark:])
        ),
    )
    failover = time.monotonic() - killed
    read = sum(n for p, n in taken.items() if p in theirs)
    print(f"standbys={standbys}: failover {failover:.1f} s, {read} changelog records restored")
    if standbys:
        assert "taken over from its standby copy" in group.stderr(second)
        # Only what the killed process wrote after the standby's last read: a few records.
        assert read < 60, group.stderr(second)
    else:
        # Without a copy, the moved tasks' whole changelogs are read again.
        assert read >= 100, group.stderr(second)
    assert stop(second) == 0, group.stderr(second)
