"""Stateful operators: what a keyed step with state does per record and as time passes.

An operator works on the stores of one task (one partition) and knows nothing of the log:
the runtime opens its stores, restores them, feeds it records with the task's watermark,
sends what its stores changed to their changelogs, and forwards what it emits.
"""

from strom.runtime.operators.base import (
    LATE,
    BuildContext,
    Emit,
    Late,
    Operator,
    OperatorSpec,
    StoreSpec,
)

__all__ = ["LATE", "BuildContext", "Emit", "Late", "Operator", "OperatorSpec", "StoreSpec"]
