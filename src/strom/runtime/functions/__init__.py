"""Compiled operators: one small module per kind, each turning a graph node into a closure.

A compiled step is a plain function ``fn(value) -> None`` that does its work and calls the
next step(s). Record metadata travels in :data:`strom.context.SLOT`, not in arguments, so the
hot path passes one value and allocates nothing of its own.

A user function that raises is reported by :func:`step_failed` as a ProcessingError carrying
the step name; the runner adds the record's topic, partition and offset.
"""

from strom.runtime.functions.base import Fn, fan_out, step_failed

__all__ = ["Fn", "fan_out", "step_failed"]
