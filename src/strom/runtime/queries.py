"""Queryable state: read a running application's stores, from inside the process
(``app.store(name).get(key)``) or over HTTP (``GET /stores/{name}/keys/{key}``).

A key lives in one store partition: the partition its record key hashes to (Kafka's murmur2,
as the producers wrote them). When this process holds that partition the store answers (a
partition still restoring answers :class:`~strom.errors.StoreRestoringError`: never a stale
value); when another process holds it, the question is forwarded to that process's endpoint,
found in the ``{app}-instances`` topic (:mod:`strom.runtime.instances`). Reads take the
processing loop's lock, so they see the store between two batches.

=================================================  ===========================================
path                                               answer (JSON)
=================================================  ===========================================
``/stores``                                        the queryable stores and this process's
                                                   partitions of each
``/stores/{name}/keys/{key}``                      ``{"key", "value", "partition", "served_by"}``
                                                   (404 when the key has no value)
``/stores/{name}/range?from=&to=``                 ``{"entries": [[key, value], ...]}`` over
                                                   every partition (forwarded to their owners)
``/stores/{name}/windows/{key}?from=&to=``         ``{"windows": [{"start", "end", "value"}]}``
=================================================  ===========================================

Keys in paths are decoded with the store's key serde from their UTF-8 text (a string key as
is, a JSON key as JSON). ``?local=1`` answers from this process only (what forwarding uses).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import orjson

from strom.dsl import graph as g
from strom.errors import ConfigError, NotOwnedError, StoreRestoringError, StromError
from strom.log.partitioner import partition_for_key
from strom.runtime.operators.base import StoreSpec
from strom.runtime.state_tasks import StateTasks

log = logging.getLogger("strom.runtime")

_FORWARD_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class _Located:
    node: g.Stateful
    spec: StoreSpec
    subtopology: str


class Queries:
    """The stores of one runner, by name.

    Args:
        state: the runner's stateful tasks.
        partitions: the partition count of every topic the application uses.
        lock: the processing loop's lock (held while a batch runs).
        owner: who owns a (subtopology, partition): (instance id, endpoint) or None.
        me: this process's instance id.
    """

    def __init__(
        self,
        state: StateTasks,
        partitions: dict[str, int],
        lock: Callable[[], AbstractContextManager[Any]],
        owner: Callable[[tuple[str, int]], tuple[str, str | None] | None],
        me: str,
        instances: Callable[[], dict[str, str | None]] | None = None,
    ) -> None:
        self.instances = instances or dict
        self._state = state
        self._partitions = partitions
        self._lock = lock
        self._owner = owner
        self.me = me
        plan = state.plan
        self._stores: dict[str, _Located] = {
            spec.name: _Located(node, spec, plan.stateful[node])
            for node, specs in plan.stores.items()
            for spec in specs
        }

    @property
    def names(self) -> list[str]:
        """The queryable stores."""
        return sorted(self._stores)

    def store(self, name: str) -> StoreView:
        """The store ``name``; raises ConfigError for an unknown one."""
        found = self._stores.get(name)
        if found is None:
            raise ConfigError(
                f"no store named {name!r}; the application's stores are: "
                f"{', '.join(self.names) or 'none'}"
            )
        return StoreView(self, name, found)

    def local_partitions(self, name: str) -> list[int]:
        """The partitions of store ``name`` this process holds (running or restoring)."""
        sub = self._stores[name].subtopology
        return sorted(p for (s, p), t in self._state.tasks.items() if s == sub and not t.closed)

    # -- internals used by StoreView -------------------------------------------------------

    def _partition_count(self, located: _Located) -> int:
        topics = self._state.plan.subtopology_topics(located.subtopology)
        return self._partitions[topics[0]]

    def _task(self, located: _Located, partition: int) -> Any:
        return self._state.tasks.get((located.subtopology, partition))


class StoreView:
    """One store of the running application (see the module docstring)."""

    def __init__(self, queries: Queries, name: str, located: _Located) -> None:
        self._q = queries
        self.name = name
        self._located = located

    @property
    def kind(self) -> str:
        """``"key-value"``, ``"window"`` or ``"session"``."""
        return self._located.spec.kind

    def partition_of(self, key: Any) -> int:
        """The partition ``key`` lives in."""
        data = self._located.spec.key.serialize(key)
        if data is None:
            raise ConfigError(f"store {self.name!r}: a None key has no partition")
        return partition_for_key(data, self._q._partition_count(self._located))

    def get(self, key: Any) -> Any:
        """The value of ``key`` (None when it has none), here or from its owner.

        Raises:
            StoreRestoringError: its partition is being restored.
            NotOwnedError: nobody reachable holds its partition now (a rebalance).
        """
        return self.lookup(key)[0]

    def lookup(self, key: Any) -> tuple[Any, str]:
        """(value of ``key``, the id of the process that answered)."""
        partition = self.partition_of(key)
        found = self._local(partition, lambda store: self._present(store.get(key)))
        if found is not _ELSEWHERE:
            return found, self._q.me
        answer = self._forward(partition, f"keys/{_path_key(self._located, key)}")
        return answer.get("value"), str(answer.get("served_by", ""))

    def fetch(self, key: Any, time_from: int, time_to: int) -> list[dict[str, Any]]:
        """The windows of ``key`` whose start is in ``[time_from, time_to]`` (window and
        session stores), here or from the key's owner."""
        if self.kind == "key-value":
            raise ConfigError(f"store {self.name!r} is a key-value store: use get()")
        partition = self.partition_of(key)

        def read(store: Any) -> list[dict[str, Any]]:
            if self.kind == "session":
                found = store.find_sessions(key, time_from, time_to)
            else:
                found = store.fetch(key, time_from, time_to)
            return [
                {"start": start, "end": end, "value": self._present(value)}
                for start, end, value in found
            ]

        found = self._local(partition, read)
        if found is not _ELSEWHERE:
            return found  # type: ignore[no-any-return]
        path = f"windows/{_path_key(self._located, key)}?from={time_from}&to={time_to}"
        return list(self._forward(partition, path).get("windows", []))

    def range(self, lo: Any = None, hi: Any = None) -> list[tuple[Any, Any]]:
        """Entries with ``lo <= key < hi`` of every partition (key-value stores), each
        partition's in key-byte order, partitions in order."""
        if self.kind != "key-value":
            raise ConfigError(f"store {self.name!r} is a {self.kind} store: use fetch()")
        out: list[tuple[Any, Any]] = []
        for partition in range(self._q._partition_count(self._located)):
            found = self._local(
                partition,
                lambda store: [(k, self._present(v)) for k, v in store.range(lo, hi)],
            )
            if found is _ELSEWHERE:
                bounds = (("from", _text(self._located, lo)), ("to", _text(self._located, hi)))
                query = urllib.parse.urlencode({k: v for k, v in bounds if v is not None})
                answer = self._forward(partition, f"range?partition={partition}&{query}")
                found = [tuple(e) for e in answer.get("entries", [])]
            out.extend(found)
        return out

    def local_range(self, partition: int, lo: Any, hi: Any) -> list[tuple[Any, Any]]:
        """Entries of one partition held here."""
        found = self._local(
            partition, lambda store: [(k, self._present(v)) for k, v in store.range(lo, hi)]
        )
        if found is _ELSEWHERE:
            raise NotOwnedError(f"store {self.name!r} partition {partition} is not held here")
        return found  # type: ignore[no-any-return]

    # -- where the answer comes from -------------------------------------------------------

    def _local(self, partition: int, read: Callable[[Any], Any]) -> Any:
        q = self._q
        with q._lock():
            task = q._task(self._located, partition)
            if task is None or task.closed:
                return _ELSEWHERE
            if not task.running:
                raise StoreRestoringError(
                    f"store {self.name!r} partition {partition} is restoring; ask again soon"
                )
            return read(task.stores[self.name])

    def _forward(self, partition: int, path: str) -> dict[str, Any]:
        owner = self._q._owner((self._located.subtopology, partition))
        if owner is None or owner[0] == self._q.me or owner[1] is None:
            raise NotOwnedError(
                f"store {self.name!r} partition {partition} is held by no reachable process "
                "now (a rebalance, or the owner serves no endpoint); ask again soon"
            )
        url = f"{owner[1]}/stores/{self.name}/{path}{'&' if '?' in path else '?'}local=1"
        try:
            with urllib.request.urlopen(url, timeout=_FORWARD_TIMEOUT) as response:
                answer: dict[str, Any] = orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = _body(exc)
            if exc.code == 404:
                return {"value": None}
            if exc.code == 503 and "restoring" in str(body.get("error", "")):
                raise StoreRestoringError(str(body["error"])) from None
            raise NotOwnedError(
                f"store {self.name!r} partition {partition}: {owner[0]} at {owner[1]} answered "
                f"{exc.code}: {body.get('error', '')}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise NotOwnedError(
                f"store {self.name!r} partition {partition}: its owner {owner[0]} at {owner[1]} "
                f"did not answer: {exc}"
            ) from None
        return answer

    def _present(self, value: Any) -> Any:
        present = getattr(self._located.node.spec, "present", None)
        return value if present is None or value is None else present(value)


class _Elsewhere:
    __slots__ = ()


_ELSEWHERE = _Elsewhere()


def _text(located: _Located, key: Any) -> str | None:
    if key is None:
        return None
    data = located.spec.key.serialize(key)
    return None if data is None else data.decode("utf-8")


def _path_key(located: _Located, key: Any) -> str:
    return urllib.parse.quote(_text(located, key) or "", safe="")


def _body(exc: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        parsed = orjson.loads(exc.read())
    except (orjson.JSONDecodeError, OSError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def answer_http(queries: Queries, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The HTTP answer to ``GET path?params`` under ``/stores`` (see the module docstring)."""
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
    local = params.get("local") == "1"
    try:
        if parts == ["stores"]:
            return 200, {
                "instance": queries.me,
                "stores": {n: queries.local_partitions(n) for n in queries.names},
                "instances": queries.instances(),
            }
        if len(parts) < 3:
            return 404, {"error": f"no such path {path!r}; see /stores"}
        view = queries.store(parts[1])
        kind, rest = parts[2], parts[3:]
        if kind == "keys" and len(rest) == 1:
            key = _key(view, rest[0])
            partition = view.partition_of(key)
            if local:
                value = view._local(partition, lambda s: view._present(s.get(key)))
                if value is _ELSEWHERE:
                    return 503, {"error": f"partition {partition} is not held here (moved)"}
                served = queries.me
            else:
                value, served = view.lookup(key)
            if value is None:
                return 404, {"key": key, "error": "no value for this key", "partition": partition}
            return 200, {
                "key": key,
                "value": value,
                "partition": partition,
                "served_by": served,
            }
        if kind == "windows" and len(rest) == 1:
            key = _key(view, rest[0])
            start, end = int(params.get("from", -(2**62))), int(params.get("to", 2**62))
            if local and view._local(view.partition_of(key), lambda s: None) is _ELSEWHERE:
                return 503, {"error": "not held here (moved)"}
            return 200, {"key": key, "windows": view.fetch(key, start, end)}
        if kind == "range" and not rest:
            low = _key(view, params["from"]) if "from" in params else None
            high = _key(view, params["to"]) if "to" in params else None
            if "partition" in params:
                entries = view.local_range(int(params["partition"]), low, high)
            else:
                entries = view.range(low, high)
            return 200, {"entries": [list(e) for e in entries]}
        return 404, {"error": f"no such path {path!r}; see /stores"}
    except StoreRestoringError as exc:
        return 503, {"error": str(exc), "restoring": True}
    except NotOwnedError as exc:
        return 503, {"error": str(exc)}
    except ConfigError as exc:
        return 400, {"error": str(exc)}
    except StromError as exc:
        return 500, {"error": str(exc)}
    except (KeyError, ValueError) as exc:
        return 400, {"error": f"bad request: {exc}"}


def _key(view: StoreView, text: str) -> Any:
    return view._located.spec.key.deserialize(text.encode("utf-8"))
