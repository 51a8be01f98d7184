"""``make demo`` / ``python -m strom.demo``: a real pipeline on the embedded log, start to end.

It needs no Java and no services: the log lives in a temporary directory.

1. generates user events ``{"user_id", "action", "timestamp"}`` keyed by user id;
2. runs the application below until it has processed every event:
   filter the logins → enrich them with the user's country and tier → re-key by country
   (through a repartition topic) → write to ``logins-by-country``;
3. reads the output topic back and prints logins per country and the throughput.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections import Counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import strom
import strom.log
from strom.log import TopicPartition
from strom.runtime.plan import build_plan

COUNTRIES = ["de", "fr", "us", "jp", "br", "in", "ng", "se"]
TIERS = ["free", "plus", "pro"]
ACTIONS = ["login", "logout", "view", "view", "click"]
# A user table to enrich from: in a real application a table of the users topic.
USERS = {
    f"user-{i}": {"country": COUNTRIES[i * 7 % len(COUNTRIES)], "tier": TIERS[i % len(TIERS)]}
    for i in range(1000)
}


def enrich(event: dict[str, Any]) -> dict[str, Any]:
    """Add the user's country and tier to a login event."""
    return {**event, **USERS[event["user_id"]]}


def build(broker: str) -> tuple[strom.App, strom.Topic, strom.Topic]:
    """The demo application (the README's quick start)."""
    app = strom.App("login-stats", broker=broker, commit_interval=0.5)
    events = app.topic(
        "user-events", key=strom.serde.string(), value=strom.serde.json(), partitions=4
    )
    logins = app.topic(
        "logins-by-country", key=strom.serde.string(), value=strom.serde.json(), partitions=4
    )
    (
        app.stream(events)
        .filter(lambda e: e["action"] == "login", name="logins")
        .map_values(enrich, name="enrich")
        .key_by(lambda e: e["country"], name="by-country")
        .to(logins)
    )
    return app, events, logins


def generate(log: strom.log.Log, topic: strom.Topic, count: int, progress: Progress) -> None:
    """Write ``count`` random user events, keyed by user id."""
    task = progress.add_task("generating events", total=count)
    admin = log.admin()
    admin.create_topics([strom.log.TopicSpec(topic.name, topic.partitions or 1)])
    admin.close()
    rng = random.Random(42)
    producer = log.producer()
    serialize_key, serialize_value = topic.key.serialize, topic.value.serialize
    now = int(time.time() * 1000)
    users = list(USERS)
    for i in range(count):
        user = rng.choice(users)
        event = {"user_id": user, "action": rng.choice(ACTIONS), "timestamp": now + i}
        producer.send(topic.name, serialize_value(event), serialize_key(user), timestamp=now + i)
        if i % 1000 == 999:
            progress.update(task, completed=i + 1)
    producer.flush()
    producer.close()
    progress.update(task, completed=count)


def processed(admin: strom.log.Admin, group: str, topics: list[str]) -> dict[str, int]:
    """Committed offsets of ``group`` summed per topic."""
    done = Counter[str]()
    for tp, offset in admin.group_offsets(group).items():
        if tp.topic in topics:
            done[tp.topic] += offset
    return done


def run(app: strom.App, log: strom.log.Log, count: int, progress: Progress) -> float:
    """Run ``app`` until it processed every event and every re-keyed login; return seconds."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            app.run(broker=log.url)  # the demo's own log, whatever $STROM_BROKER says
        except BaseException as exc:
            failure.append(exc)

    admin = log.admin()
    # The runtime repartitions only where a step needs it (a stateful one after a key change);
    # ``to()`` after ``key_by`` writes each record to its key's partition directly.
    repartitions = [t.name for t in build_plan(app.graph).repartitions.values()]
    events_task = progress.add_task("processing events", total=count)
    rekey_task = progress.add_task("writing re-keyed logins", total=None) if repartitions else None
    started = time.monotonic()
    thread = threading.Thread(target=target, name="strom-demo-app", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            time.sleep(0.2)
            done = processed(admin, app.name, ["user-events", *repartitions])
            progress.update(events_task, completed=done["user-events"])
            partitions = [TopicPartition(t, p) for t in repartitions for p in range(4)]
            try:
                rekeyed = sum(admin.end_offsets(partitions).values()) if partitions else 0
            except strom.errors.TopicNotFoundError:
                continue  # not created yet
            rekeyed_done = sum(done[t] for t in repartitions)
            if rekey_task is not None:
                progress.update(rekey_task, total=rekeyed, completed=rekeyed_done)
            if done["user-events"] >= count and rekeyed_done >= rekeyed:
                break
        elapsed = time.monotonic() - started
    finally:
        app.stop()
        thread.join(60)
        admin.close()
    if failure:
        raise failure[0]
    return elapsed


def read_back(log: strom.log.Log, topic: strom.Topic) -> list[tuple[Any, Any]]:
    """Every (key, value) of ``topic``."""
    admin = log.admin()
    partitions = [TopicPartition(topic.name, p) for p in range(4)]
    total = sum(admin.end_offsets(partitions).values())
    admin.close()
    consumer = log.consumer()
    consumer.assign(partitions, at=dict.fromkeys(partitions, strom.log.OFFSET_BEGINNING))
    out: list[tuple[Any, Any]] = []
    deadline = time.monotonic() + 30
    while len(out) < total and time.monotonic() < deadline:
        for record in consumer.poll(5000, 0.2):
            out.append((topic.key.deserialize(record.key), topic.value.deserialize(record.value)))
    consumer.close()
    return out


def main(argv: list[str] | None = None) -> None:
    """Generate, process, summarize."""
    parser = argparse.ArgumentParser(prog="python -m strom.demo", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="events to generate")
    args = parser.parse_args(argv)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="strom-demo-") as directory:
        broker = f"local://{directory}"
        console.print(f"[bold]strom demo[/bold] on the embedded log at {directory}")
        app, events, logins = build(broker)
        log = strom.log.connect(broker)
        try:
            columns = (
                TextColumn("{task.description:<26}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=console) as progress:
                generate(log, events, args.events, progress)
                elapsed = run(app, log, args.events, progress)
            rows = read_back(log, logins)
        finally:
            log.close()
    summarize(console, rows, args.events, elapsed)


def summarize(console: Console, rows: list[tuple[Any, Any]], events: int, elapsed: float) -> None:
    """Print logins per country (read back from the output topic) and the throughput."""
    per_country = Counter(key for key, _ in rows)
    per_tier = Counter(value["tier"] for _, value in rows)
    table = Table(title="logins by country", caption="read back from 'logins-by-country'")
    table.add_column("country")
    table.add_column("logins", justify="right")
    for country, n in sorted(per_country.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(country, f"{n:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{len(rows):,}[/bold]")
    console.print(table)
    tiers = ", ".join(f"{tier} {n:,}" for tier, n in sorted(per_tier.items()))
    console.print(f"logins per tier: {tiers}")
    console.print(
        f"processed {events:,} events (and re-keyed {len(rows):,} logins) in {elapsed:.1f} s: "
        f"[bold]{events / elapsed:,.0f} events/s[/bold]"
    )
    if any(value["country"] != key for key, value in rows):
        raise SystemExit("error: a record's key does not match its country")


if __name__ == "__main__":
    main()
