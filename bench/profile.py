"""Profile one implementation of a pipeline workload with py-spy and say where the time goes.

    python -m bench.profile                                   # strom on the Kafka stateless
    python -m bench.profile --workload stateless --impl raw --records 300000
    python -m bench.profile --native                          # C frames too (librdkafka, orjson)

py-spy (installed into ``bench/.venvs/tools``) samples the implementation's process from
outside, so the script runs unchanged. Idle samples (waiting in poll/flush with the GIL
released) are left out unless ``--idle``: the percentages are of the time the process spent
running Python (and, with ``--native``, the C code it called); samples inside imports
(start-up) are left out too. Output: a summary on stdout and
in ``bench/results/profile-<run id>.txt``, the raw collapsed stacks beside it.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from pathlib import Path

from bench import peers, registry
from bench.context import RESULTS, Context
from bench.drivers import log, pipeline
from bench.kafka import Kafka, ensure_broker
from bench.settings import Settings

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")

BUCKETS = (
    ("strom/runtime", "strom.runtime (task loop, operators)"),
    ("strom/dsl", "strom.dsl"),
    ("strom/serde", "strom.serde"),
    ("strom/log/kafka", "strom.log.kafka (backend)"),
    ("strom/log/local", "strom.log.local (embedded log)"),
    ("strom/log", "strom.log (types)"),
    ("strom/", "strom (other)"),
    ("bench/", "benchmark script (user functions, meter)"),
    ("confluent_kafka", "confluent_kafka (Python wrappers)"),
)


# Python frames where a thread waits with the GIL released, which py-spy still samples as
# active (e.g. a thread-pool worker blocked on its queue): waiting, not work.
IDLE = (
    ("_worker", "concurrent/futures/thread.py"),
    ("Condition.wait", "threading.py"),
    ("Event.wait", "threading.py"),
    ("EpollSelector.select", "selectors.py"),
)


def _idle(frame: tuple[str, str]) -> bool:
    func, file = frame
    return any(func == f and file.endswith(suffix) for f, suffix in IDLE)


def _split(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match.group("func"), match.group("file")


def _bucket(file: str) -> str:
    for needle, name in BUCKETS:
        if needle in file:
            return name
    return "Python standard library / other packages"


def _python_frame(frames: list[tuple[str, str]]) -> tuple[str, str]:
    """The deepest frame in a Python source file: where a call into C (or into generated code
    such as a dataclass ``__init__``) came from."""
    for func, file in reversed(frames):
        if not _native(file) and not file.startswith("<"):
            return func, file
    return frames[-1]


def _native(file: str) -> bool:
    return not (file.endswith(".py") or file.startswith("<"))


def summarize(collapsed: Path, top: int = 25) -> str:
    """Self time per function, inclusive time per function, self time per component."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    native: Counter[str] = Counter()
    total = idle = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_split(f) for f in stack.split(";") if f]
        # The thread/process frames py-spy may prepend are not functions.
        frames = [f for f in frames if f[1] or not f[0].startswith(("process ", "thread "))]
        # Start-up imports are outside the measured window: leave them out.
        if not frames or any(fn == "_find_and_load" for fn, _ in frames):
            continue
        if _idle(_python_frame(frames)):
            idle += count
            continue
        total += count
        func, file = frames[-1]
        self_time[f"{func} ({_short(file)})"] += count
        # C time is charged to the Python code that called it; the native table splits it.
        buckets[_bucket(_python_frame(frames)[1])] += count
        if _native(file):
            native[Path(file).name.split(".")[0] or "?"] += count
        for name in {f"{fn} ({_short(fl)})" for fn, fl in frames}:
            inclusive[name] += count
    if total == 0:
        return "no samples"

    def table(counter: Counter[str], title: str) -> list[str]:
        rows = [f"{title} ({total} samples)"]
        rows += [f"  {n / total * 100:5.1f}%  {name}" for name, n in counter.most_common(top)]
        return rows

    out = [f"left out as waiting (threads blocked on a queue or condition): {idle} samples", ""]
    out += table(buckets, "time by component (C calls charged to their Python caller)")
    if native:
        out += ["", *table(native, "of which native code, by library")]
    out += ["", *table(self_time, "self time by function")]
    out += ["", *table(inclusive, "inclusive time by function")]
    return "\n".join(out) + "\n"


def _short(file: str) -> str:
    for marker in ("/site-packages/", "/src/", "/work/main/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workload", default="stateless", help="a pipeline or log workload")
    p.add_argument("--impl", default="strom")
    p.add_argument("--case", help="case of a log workload (e.g. 1KiB); default: the first")
    p.add_argument("--records", type=int, default=300_000)
    p.add_argument("--rate", type=int, default=250, help="samples per second")
    p.add_argument("--native", action="store_true", help="sample C frames too")
    p.add_argument("--idle", action="store_true", help="count idle (waiting) samples too")
    p.add_argument("--bootstrap")
    args = p.parse_args()
    workload = next((w for w in registry.workloads() if w.name == args.workload), None)
    if workload is None or workload.kind not in ("pipeline", "log"):
        raise SystemExit(f"{args.workload!r} is not a pipeline or log workload; see --list")
    impl = workload.impl(args.impl)
    run_id = "profile-" + time.strftime("%Y%m%d-%H%M%S")
    on_kafka = (impl.backend or workload.backend) == "kafka"
    broker = ensure_broker(args.bootstrap) if on_kafka else None
    kafka = Kafka(broker.bootstrap) if broker else None
    settings = Settings(records=args.records, log_records=args.records, repeat=1)
    ctx = Context(settings, kafka, run_id)
    tools = peers.ensure("tools", ctx.run_dir / "install-tools.log")
    if tools.python is None:
        raise SystemExit(f"py-spy did not install: {tools.error}")
    raw = RESULTS / f"{run_id}.collapsed"
    wrap = [
        str(tools.python.parent / "py-spy"),
        "record",
        "--rate",
        str(args.rate),
        "--format",
        "raw",
        "--full-filenames",
        "--output",
        str(raw),
    ]
    wrap += ["--native"] if args.native else []
    wrap += ["--idle"] if args.idle else []
    wrap.append("--")
    try:
        if workload.kind == "log":
            cases = [c for c in workload.cases if args.case in (None, c.get("case"))]
            if not cases:
                raise SystemExit(f"{workload.name} has no case {args.case!r}")
            res = log.run_one(ctx, workload, impl, dict(cases[0]), 1, wrap)
        else:
            side = pipeline.side_for(ctx, workload)
            if isinstance(side, str):
                raise SystemExit(side)
            topic, acts = pipeline.prepared_input(ctx, workload, side)
            expected = workload.expected_outputs(acts) if workload.expected_outputs else None
            res = pipeline.run_one(
                ctx, workload, impl, {"case": ""}, 1, side, topic, expected, wrap
            )
    finally:
        if kafka is not None:
            kafka.delete(
                [t for t in kafka.admin.list_topics(timeout=10).topics if t.endswith(run_id)]
            )
        ctx.cleanup()
        if broker is not None:
            broker.stop()
    figures = "; ".join(
        f"{sub or 'run'}: {row.get('records_per_s', 0):,.0f} records/s, "
        f"{row.get('cpu_s_per_m', 0):.2f} CPU s / M records"
        for sub, row in res.rows.items()
    )
    head = (
        f"profile of {workload.name}/{impl.name} {res.case}, {args.records:,} records, py-spy "
        f"{args.rate} Hz{' --native' if args.native else ''}{' --idle' if args.idle else ''}\n"
        f"under the profiler: {figures}"
        + ("" if res.ok else f" (run not OK: {res.error})")
        + "\n\n"
    )
    text = head + (summarize(raw) if raw.exists() else "py-spy wrote no samples\n")
    (RESULTS / f"{run_id}.txt").write_text(text)
    print(text)
    print(f"[bench] collapsed stacks: {raw}")


if __name__ == "__main__":
    main()
