"""Finds the workloads: every package under ``bench/workloads/`` whose ``__init__`` defines
``WORKLOAD``. Adding a workload means adding a package; the runner does not change."""

from __future__ import annotations

import importlib
import pkgutil

import bench.workloads
from bench.spec import Workload


def workloads() -> list[Workload]:
    """Every workload, in report order."""
    found: list[Workload] = []
    for info in pkgutil.iter_modules(bench.workloads.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"bench.workloads.{info.name}")
        workload = getattr(module, "WORKLOAD", None)
        if isinstance(workload, Workload):
            found.append(workload)
    names = [w.name for w in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"workload names must be unique, repeated: {sorted(duplicates)}")
    return sorted(found, key=lambda w: (w.order, w.name))
