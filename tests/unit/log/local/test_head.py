"""The head under any order of memory operations (what a weakly ordered CPU may show)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from strom.log.local.durability import BOOT_ID
from strom.log.local.head import Head, HeadState


def state(n: int) -> HeadState:
    return HeadState(
        next_offset=1000 * n,
        log_start=n,
        active_base=100 * n,
        active_end=4096 * n,
        segments_version=2 * n,
        active_max_ts=1_700_000_000_000 + n,
        active_created_ms=1_700_000_000_000 - n,
        boot_id=BOOT_ID,
        index_entries=n,
        last_index_position=512 * n,
        synced_offset=999 * n,
    )


def test_a_reader_sees_a_whole_state_whatever_order_the_stores_land_in(tmp_path: Path) -> None:
    """A reader racing a writer sees some of the writer's stores and not others, in any
    combination on aarch64 (x86 keeps them in order). Whatever the combination, a read
    returns a state that was published, never a mix of two."""
    before = tmp_path / "before"
    head = Head(before)
    head.write(state(1))
    head.write(state(2))
    head.close()
    after = tmp_path / "after"
    shutil.copy(before, after)
    head = Head(after)
    head.write(state(3))
    head.close()
    old, new = before.read_bytes(), after.read_bytes()
    changed = [i for i in range(len(old)) if old[i] != new[i]]
    assert changed
    rng = random.Random(7)
    subsets = [changed[:k] for k in range(len(changed))] + [
        changed[k:] for k in range(len(changed))
    ]
    subsets += [[i for i in changed if rng.random() < 0.5] for _ in range(300)]
    mixed = tmp_path / "mixed"
    for subset in subsets:
        data = bytearray(old)
        for i in subset:
            data[i] = new[i]
        mixed.write_bytes(bytes(data))
        head = Head(mixed)
        try:
            seen = head.read()
        finally:
            head.close()
        assert seen in (state(2), state(3)), f"a mix of two states after {len(subset)} stores"
