"""What a workload is: a kind the runner knows how to drive, and its implementations.

Standard library only: workload packages import this, and some of them are imported by
peer virtualenvs' interpreters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["pipeline", "latency", "log"]
"""How the runner drives a workload.

* ``pipeline``: the input topic is filled once per run; each repetition drains it into a fresh
  output topic with a fresh consumer group and reports throughput.
* ``latency``: a load generator sends at a fixed rate while the implementation runs; a probe
  consuming the output topic measures now - send time per record.
* ``log``: the implementation script does everything itself (append, read) and reports
  figures per phase.
"""

Backend = Literal["kafka", "local", "file"]


@dataclass(frozen=True)
class Impl:
    """One implementation of a workload: a script run in a separate process.

    Attributes:
        name: short id, unique within the workload (``raw``, ``strom``, ``quix``...).
        label: what the report's table shows.
        module: the script, run as ``python -m MODULE CONFIG_JSON``.
        family: what ``--only`` matches (``raw``, ``strom``, ``quix``, ``faust``, ``bytewax``).
        env: ``main`` (the project's .venv) or a peer name from :data:`bench.peers.PEERS`.
        config: extra settings merged into the script's configuration.
        group_based: the script commits to a Kafka/strom consumer group (the runner checks
            the committed offsets afterwards and waits for the group before offering load).
        backend: overrides the workload's backend for this implementation.
        note: a caveat printed under the table (a setting the implementation cannot match).
    """

    name: str
    label: str
    module: str
    family: str
    env: str = "main"
    config: Mapping[str, Any] = field(default_factory=dict)
    group_based: bool = True
    backend: Backend | None = None
    note: str = ""


@dataclass(frozen=True)
class Workload:
    """A benchmark workload.

    Attributes:
        name: id used on the command line (``--workloads``) and in result files.
        title: section title in the report.
        kind: how the runner drives it (see :data:`Kind`).
        backend: the log the input lives on.
        impls: implementations, in report order.
        references: names of the implementations ratios are taken against (one column each).
        description: what is measured, for the report.
        order: position in the report (lower first).
        cases: parameter sets run for every implementation (e.g. record sizes); each is
            merged into the script's configuration and named by its ``case`` key.
        expected_outputs: from the actions of the input events, how many output records a
            correct run produces (None: not checked).
        config: extra settings for every implementation's script.
    """

    name: str
    title: str
    kind: Kind
    backend: Backend
    impls: tuple[Impl, ...]
    references: tuple[str, ...]
    description: str
    order: int = 100
    cases: tuple[Mapping[str, Any], ...] = ({"case": ""},)
    expected_outputs: Callable[[Sequence[str]], int] | None = None
    config: Mapping[str, Any] = field(default_factory=dict)

    def impl(self, name: str) -> Impl:
        """The implementation called ``name``; KeyError when there is none."""
        for impl in self.impls:
            if impl.name == name:
                return impl
        raise KeyError(f"workload {self.name!r} has no implementation {name!r}")
