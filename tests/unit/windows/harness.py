"""Drive a :class:`~strom.windows.WindowedAggregation` the way the runtime will: a store opened
from ``store_spec``, flushed to a changelog (a list) at checkpoints, and on restart a fresh
store restored from that changelog with a new operator instance over it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from strom.serde import string
from strom.state import Change, open_key_value_store, open_session_store, open_window_store
from strom.windows import LATE, WindowedAggregation, store_spec
from strom.windows.aggregations import Aggregation
from tests.unit.windows.reference import Call

OPENERS = {
    "window": open_window_store,
    "session": open_session_store,
    "key-value": open_key_value_store,
}


class Runner:
    """One task's windowed aggregation over one store partition, restartable."""

    def __init__(
        self,
        window: Any,
        aggregation: Aggregation[Any, Any],
        *,
        emit: str,
        grace: int,
        backend: str,
        state_dir: Path,
        reopen: bool = False,
    ) -> None:
        self.window = window
        self.aggregation = aggregation
        self.emit = emit
        self.grace = grace
        self.backend = backend
        self.state_dir = state_dir
        self.reopen = reopen
        self.spec = store_spec(window, aggregation, grace)
        self.changelog: list[Change] = []
        self.generation = 0
        self.store: Any = None
        self.op: WindowedAggregation = self._open()

    def _open(self) -> WindowedAggregation:
        options: dict[str, Any] = {"backend": self.backend}
        if self.backend == "rocksdb":
            options.update(state_dir=self.state_dir, app="t")
        if self.spec.segment_interval is not None:
            options["segment_interval"] = self.spec.segment_interval
        # A new partition number is a fresh, empty local copy: restore everything. The same
        # number reopens the local copy: restore from its checkpoint (everything if untrusted).
        self.store = OPENERS[self.spec.kind](
            "w", self.generation, string(), self.spec.value_serde, **options
        )
        recovery = self.store.recovery
        offset = 0 if recovery.needs_full_restore else recovery.checkpoint_offset
        self.store.restore(self.changelog[offset:])
        return WindowedAggregation(
            self.window, self.aggregation, self.store, emit=self.emit, grace=self.grace
        )

    def flush(self) -> None:
        """A checkpoint: the store's changes go to the changelog."""
        self.changelog.extend(self.store.flush())
        self.store.write_checkpoint(len(self.changelog))

    def restart(self) -> None:
        """Checkpoint, stop, start again from the changelog: a new store partition restored
        from all of it, or (``reopen``) the same local copy and the changelog after its
        checkpoint."""
        self.flush()
        self.store.close()
        if not self.reopen:
            self.generation += 1
        self.op = self._open()

    def call(self, call: Call) -> Any:
        """One operator call; its output as the reference writes it."""
        if call.op == "advance":
            return self.op.advance(call.watermark)
        out = self.op.process(call.key, call.value, call.timestamp, call.watermark)
        return "LATE" if out is LATE else out

    def close(self) -> None:
        """Close the store."""
        self.store.close()


def run(
    runner: Runner, calls: list[Call], *, flushes: frozenset[int] = frozenset(),
    restart_at: int | None = None,
) -> list[Any]:  # fmt: skip
    """Every call's output; checkpoints before the calls in ``flushes``, a restart before
    call ``restart_at``."""
    out = []
    try:
        for i, call in enumerate(calls):
            if i == restart_at:
                runner.restart()
            elif i in flushes:
                runner.flush()
            out.append(runner.call(call))
    finally:
        runner.close()
    return out
