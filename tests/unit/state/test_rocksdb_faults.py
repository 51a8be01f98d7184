"""Faults on a RocksDB store partition's local copy, injected for real.

Bytes flipped in an SST file, the MANIFEST and the checkpoint; a truncated checkpoint; the
directory of another partition or store copied in; a process SIGKILLed while the store is open.
Each must end in a wipe with a logged reason and a full restore from the changelog — never in
a wrong value served.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from strom.errors import StateError
from strom.serde import integer, string
from strom.state import Change, open_key_value_store, open_window_store, store_path

REPO = Path(__file__).resolve().parents[3]


def open_kv(state_dir: Path, partition: int = 0, name: str = "counts", **kw: Any) -> Any:
    return open_key_value_store(
        name, partition, string(), integer(), backend="rocksdb", state_dir=state_dir,
        app="app", **kw,
    )  # fmt: skip


def closed_copy(state_dir: Path, partition: int = 0, n: int = 2_000) -> list[Change]:
    """A cleanly closed local copy with ``n`` keys (values = -i) and checkpoint = n."""
    store = open_kv(state_dir, partition)
    for i in range(n):
        store.put(f"k{i:05}", -i)
    changes: list[Change] = store.flush()
    store.write_checkpoint(len(changes))
    store.close()
    return changes


def assert_wiped(store: Any, *reason: str) -> None:
    recovery = store.recovery
    assert recovery.needs_full_restore and recovery.wiped, recovery
    assert recovery.checkpoint_offset is None
    for part in reason:
        assert part in recovery.reason, recovery.reason
    # Nothing of the untrusted copy is served.
    assert store.get("k00001") is None
    assert list(store.items()) == []


def flip_byte(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position % len(data)] ^= 0x5A
    path.write_bytes(bytes(data))


def db_dir(state_dir: Path, partition: int = 0, name: str = "counts") -> Path:
    return store_path(state_dir, "app", name, partition) / "db"


def test_a_clean_copy_is_trusted(tmp_path: Path) -> None:
    closed_copy(tmp_path)
    store = open_kv(tmp_path)
    assert not store.recovery.needs_full_restore
    assert store.recovery.checkpoint_offset == 2_000
    assert store.get("k00007") == -7
    store.close()


@pytest.mark.parametrize("target", ["sst", "manifest"])
def test_flipped_bytes_in_rocksdb_files_wipe_the_copy(
    tmp_path: Path, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    changes = closed_copy(tmp_path)
    files = sorted(db_dir(tmp_path).iterdir())
    victim = next(
        p for p in files if (p.suffix == ".sst" if target == "sst" else "MANIFEST" in p.name)
    )
    flip_byte(victim, victim.stat().st_size // 2)
    with caplog.at_level(logging.WARNING, logger="strom.state"):
        store = open_kv(tmp_path)
    assert_wiped(store, victim.name, "changed since the clean close")
    assert victim.name in caplog.text and "wiping" in caplog.text
    # The runtime's full restore rebuilds the right values.
    store.restore(changes)
    assert store.get("k00001") == -1
    store.close()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: flip_byte(p, 3), "CHECKPOINT fails its CRC-32C"),
        (lambda p: p.write_bytes(p.read_bytes()[:5]), "CHECKPOINT is truncated"),
        (lambda p: p.write_bytes(b""), "CHECKPOINT is truncated"),
        (lambda p: p.unlink(), "closed without a checkpoint"),
    ],
    ids=["flipped", "truncated", "empty", "missing"],
)
def test_a_damaged_checkpoint_wipes_the_copy(tmp_path: Path, damage: Any, reason: str) -> None:
    closed_copy(tmp_path)
    damage(store_path(tmp_path, "app", "counts", 0) / "CHECKPOINT")
    store = open_kv(tmp_path)
    assert_wiped(store, reason)
    store.close()


def test_damaged_identity_or_marker_wipes_the_copy(tmp_path: Path) -> None:
    closed_copy(tmp_path)
    flip_byte(store_path(tmp_path, "app", "counts", 0) / "IDENTITY", 10)
    store = open_kv(tmp_path)
    assert_wiped(store, "IDENTITY")
    store.close()
    closed_copy(tmp_path)
    flip_byte(store_path(tmp_path, "app", "counts", 0) / "CLEAN", 20)
    store = open_kv(tmp_path)
    assert_wiped(store, "CLEAN")
    store.close()


def test_a_copy_from_another_partition_or_store_is_wiped(tmp_path: Path) -> None:
    closed_copy(tmp_path, partition=1)
    target = store_path(tmp_path, "app", "counts", 0)
    shutil.copytree(store_path(tmp_path, "app", "counts", 1), target)
    store = open_kv(tmp_path, partition=0)
    assert_wiped(store, "belongs elsewhere", "partition=1", "expected partition=0")
    store.close()

    other = store_path(tmp_path, "app", "other", 0)
    shutil.rmtree(other, ignore_errors=True)
    shutil.copytree(store_path(tmp_path, "app", "counts", 1), other)
    store = open_kv(tmp_path, name="other")
    assert_wiped(store, "store='counts'")
    store.close()


def test_a_different_changelog_topic_or_kind_wipes_the_copy(tmp_path: Path) -> None:
    closed_copy(tmp_path)
    store = open_kv(tmp_path, changelog_topic="elsewhere")
    assert_wiped(store, "changelog_topic='app-counts-changelog'")
    store.close()
    window = open_window_store(
        "counts", 0, string(), integer(), backend="rocksdb", state_dir=tmp_path, app="app"
    )
    assert window.recovery.wiped and "kind" in window.recovery.reason
    window.close()


def test_a_copy_rocksdb_refuses_is_wiped(tmp_path: Path) -> None:
    from strom.state.rocksdb.local import db_files, write_signed

    closed_copy(tmp_path)
    db = db_dir(tmp_path)
    # Bit rot before the clean close computed its checksums: the marker vouches for a
    # CURRENT that names no MANIFEST, so only RocksDB itself can notice.
    (db / "CURRENT").write_bytes(b"MANIFEST-999999\n")
    write_signed(db.parent / "CLEAN", {"files": db_files(db)})
    store = open_kv(tmp_path)
    assert_wiped(store, "RocksDB refused")
    store.close()


def test_the_same_partition_open_twice_is_refused_not_wiped(tmp_path: Path) -> None:
    closed_copy(tmp_path)
    first = open_kv(tmp_path)
    with pytest.raises(StateError, match="open in another task or process"):
        open_kv(tmp_path)
    assert first.get("k00003") == -3
    first.close()
    again = open_kv(tmp_path)
    assert again.recovery.checkpoint_offset == 2_000
    again.close()


_CHILD = textwrap.dedent(
    """
    import sys, time
    from strom.serde import integer, string
    from strom.state import open_key_value_store

    store = open_key_value_store("counts", 0, string(), integer(), backend="rocksdb",
                                 state_dir=sys.argv[1], app="app")
    store.put("k00001", 12345)          # a value the changelog never got
    store.flush()
    store.write_checkpoint(99)
    print("ready", flush=True)
    time.sleep(60)
    """
)


def test_a_process_killed_while_open_leaves_an_unclean_copy(tmp_path: Path) -> None:
    closed_copy(tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    store = open_kv(tmp_path)
    assert_wiped(store, "not closed cleanly")
    store.close()


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from rocksdict import Options, Rdict

    db = Rdict(sys.argv[1], Options(raw_mode=True))
    print("ready", flush=True)
    time.sleep(60)
    """
)


def test_a_rocksdb_instance_open_in_another_process_is_refused_never_wiped(
    tmp_path: Path,
) -> None:
    closed_copy(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db_dir(tmp_path))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        files = sorted(p.name for p in db_dir(tmp_path).iterdir())
        with pytest.raises(StateError, match=f"open in process {holder.pid}"):
            open_kv(tmp_path)
        assert sorted(p.name for p in db_dir(tmp_path).iterdir()) == files
        assert (db_dir(tmp_path).parent / "CLEAN").exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)
