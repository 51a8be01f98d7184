"""What the drivers share in one run: settings, the broker, directories, interpreters, results."""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import peers
from bench.kafka import Kafka
from bench.settings import Settings
from bench.spec import Impl, Workload

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class RepResult:
    """One repetition of one implementation on one case of one workload.

    ``rows`` maps a sub-measure (``""`` for a single figure set, ``append``/``read`` for the
    log workload) to its numeric figures.
    """

    workload: str
    case: str
    impl: str
    rep: int
    ok: bool
    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    error: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "workload": self.workload,
            "case": self.case,
            "impl": self.impl,
            "rep": self.rep,
            "ok": self.ok,
            "rows": self.rows,
            "error": self.error,
            "info": self.info,
        }


@dataclass
class Context:
    """One run of the harness."""

    settings: Settings
    kafka: Kafka | None
    run_id: str
    only: set[str] | None = None
    results: list[RepResult] = field(default_factory=list)
    peer_envs: dict[str, peers.PeerEnv] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    """Per workload: things the report must say (an implementation unavailable, ...)."""
    _tmp: Path | None = None
    _cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """``bench/results/<run id>/``: logs of every process of the run."""
        path = RESULTS / self.run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def logs(self) -> Path:
        """Where the processes' stdout/stderr go."""
        return self.run_dir / "logs"

    def tmp(self, name: str) -> Path:
        """A fresh temporary directory, removed by :meth:`cleanup`."""
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix=f"strom-bench-{self.run_id}-"))
        path = self._tmp / f"{name}-{uuid.uuid4().hex[:6]}"
        path.mkdir(parents=True)
        return path

    def cleanup(self) -> None:
        """Remove temporary directories."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def name(self, *parts: object) -> str:
        """A topic or group name unique to this run."""
        return "bench-" + "-".join(str(p) for p in parts if str(p)) + f"-{self.run_id}"

    def selected(self, impl: Impl) -> bool:
        """True when ``--only`` selects ``impl`` (by family or name)."""
        return self.only is None or impl.family in self.only or impl.name in self.only

    def python(self, impl: Impl) -> tuple[Path | None, str]:
        """The interpreter for ``impl``, or why there is none (a peer that did not install)."""
        if impl.env == "main":
            return Path(sys.executable), ""
        if impl.env not in self.peer_envs:
            log = self.run_dir / f"install-{impl.env}.log"
            self.peer_envs[impl.env] = peers.ensure(impl.env, log)
        env = self.peer_envs[impl.env]
        return env.python, env.error

    def note(self, workload: Workload, text: str) -> None:
        """Remember something the report must say about ``workload``."""
        items = self.notes.setdefault(workload.name, [])
        if text not in items:
            items.append(text)

    def cached(self, key: Any) -> Any:
        """A value stored by :meth:`store` (None when absent)."""
        return self._cache.get(key)

    def store(self, key: Any, value: Any) -> Any:
        """Keep ``value`` for the rest of the run (e.g. a pre-filled input)."""
        self._cache[key] = value
        return value

    def child_config(self, workload: Workload, impl: Impl, case: dict[str, Any]) -> dict[str, Any]:
        """The configuration every implementation script gets, before the driver adds its
        topics, group and sizes."""
        config: dict[str, Any] = {
            "settings": self.settings.child(),
            "partitions": self.settings.partitions,
        }
        if self.kafka is not None:
            config["bootstrap"] = self.kafka.bootstrap
            config["url"] = f"kafka://{self.kafka.bootstrap}"
        config.update(workload.config)
        config.update(impl.config)
        config.update(case)
        return config
