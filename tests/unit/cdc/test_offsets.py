"""Position stores: a compacted topic of the output log, or a file replaced atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

import strom.log
from strom.cdc.errors import CdcError
from strom.cdc.offsets import FileOffsetStore, LogOffsetStore


def test_log_store_keeps_the_latest_position_per_capture(tmp_path: Path) -> None:
    log = strom.log.connect(f"local://{tmp_path}")
    try:
        a, b = LogOffsetStore(log, "a"), LogOffsetStore(log, "b")
        a.save({"lsn": 1})
        b.save({"lsn": 10})
        a.save({"lsn": 2})
        assert LogOffsetStore(log, "a").load() == {"lsn": 2}
        assert LogOffsetStore(log, "b").load() == {"lsn": 10}
        a.forget()
        assert LogOffsetStore(log, "a").load() is None
        assert log.admin().describe_topic("strom-cdc-offsets").compacted
        a.close()
        b.close()
    finally:
        log.close()


def test_file_store_replaces_atomically_and_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "position.json"
    store = FileOffsetStore(path)
    assert store.load() is None
    store.save({"file": "binlog.000001", "pos": 4})
    store.save({"file": "binlog.000001", "pos": 900})
    assert FileOffsetStore(path).load() == {"file": "binlog.000001", "pos": 900}
    assert [p.name for p in path.parent.iterdir()] == ["position.json"]  # no temp file left
    path.write_text("[1]")
    with pytest.raises(CdcError, match="not a JSON object"):
        store.load()
    store.forget()
    assert not path.exists()
