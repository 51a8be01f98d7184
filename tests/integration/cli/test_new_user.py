"""What a new user meets with the ``strom`` command, on both logs (issue: "What a new user trips
over"). Every check runs the installed executable in a subprocess; checks are batched into few
runs, since each start costs a fresh interpreter."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from pathlib import Path

import orjson
import pytest

from strom.log import TopicPartition, connect
from tests.conftest import unique
from tests.integration.cli.support import (
    STROM,
    Run,
    environment,
    finish,
    read_line,
    start,
    strom,
    wait_for,
)


@pytest.fixture(params=["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A log of each kind: a fresh embedded log, and the session's Kafka broker."""
    if request.param == "local":
        return f"local://{tmp_path / 'log'}"
    return str(request.getfixturevalue("kafka_url"))


def test_output_follows_kcat_and_the_kafka_tools(tmp_path: Path) -> None:
    # How records and tables print does not depend on the log: checked on the embedded one.
    log_url = f"local://{tmp_path / 'log'}"
    topic = unique("cli-out-" + "x" * 90)  # longer than a terminal line
    created = strom("topics", "create", topic, broker=log_url).ok()
    assert f"Created topic {topic!r} with 1 partition." in created.err
    again = strom("topics", "create", topic, broker=log_url)
    assert again.code == 1 and again.err.count("already exists") == 1, again.err

    # Piped tables: one record a line, never wrapped at 80 columns.
    listed = strom("topics", "list", broker=log_url).ok().out.splitlines()
    assert [line.split() for line in listed if topic in line] == [[topic, "1", "delete"]]
    described = strom("topics", "describe", topic, broker=log_url).ok().out
    assert f"Topic {topic}: 1 partition\n" in described
    assert "┃" not in described and "│" not in described  # no box drawing in a pipe

    # Valid JSON stays JSON in --format json; bytes that are not UTF-8 are escaped, not fatal.
    values = b'{"a": [1, 2]}\nplain text\n\xff\xfe\n"quoted"\n'
    assert "Produced 4 records" in strom("produce", topic, broker=log_url, input=values).ok().err
    as_json = strom(
        "consume", topic, "--from-beginning", "--max", "4", "--format", "json", broker=log_url
    ).ok()
    assert [orjson.loads(line)["value"] for line in as_json.out.splitlines()] == [
        {"a": [1, 2]},
        "plain text",
        "\\xff\\xfe",
        "quoted",
    ]
    assert as_json.err.strip() == f"Consumed 4 records from {topic!r}."
    plain = strom("consume", topic, "--from-beginning", "--max", "4", broker=log_url).ok()
    assert plain.out.splitlines() == ['{"a": [1, 2]}', "plain text", "\\xff\\xfe", '"quoted"']
    beyond = strom("consume", topic, "--partition", "3", broker=log_url)
    assert beyond.code == 2 and "has 1 partition (0..0), there is no partition 3" in beyond.err


def test_read_only_commands_do_not_create_a_mistyped_local_log(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    url = f"local://{missing}"
    for args in (
        ("topics", "list"),
        ("topics", "describe", "events"),
        ("consume", "events", "--timeout", "1"),
        ("produce", "events"),
        ("lag", "--group", "g"),
        ("dlq", "list"),
    ):
        result = strom(*args, broker=url, input="x\n")
        assert result.code == 1, (args, result)
        assert result.err.startswith(f"Error: no embedded log at {missing} "), (args, result.err)
    env_run = strom("topics", "list", env={"STROM_BROKER": url})
    assert "from $STROM_BROKER" in env_run.err
    assert not missing.exists() and not missing.parent.exists()
    # A writer creates it.
    strom("topics", "create", "events", broker=url).ok()
    rows = [line.split() for line in strom("topics", "list", broker=url).ok().out.splitlines()]
    assert rows[1:] == [["events", "1", "delete"]]


def test_unreachable_broker_is_one_line() -> None:
    closed = "kafka://127.0.0.1:9"  # the discard port: nothing listens on loopback
    result = strom("topics", "list", broker=closed)
    assert result.code == 1
    assert result.err.splitlines() == [result.err.strip()], result.err
    assert result.err.startswith("Error: ") and "127.0.0.1:9" in result.err
    detailed = strom("--log-level", "DEBUG", "topics", "list", broker=closed)
    assert "DEBUG strom.log.kafka.librdkafka" in detailed.err


def test_deleting_a_topic_stops_its_consumers(log_url: str) -> None:
    topic = unique("cli-doomed")
    strom("topics", "create", topic, "--partitions", "2", broker=log_url).ok()
    strom("produce", topic, broker=log_url, input="first\n").ok()
    lone = start("consume", topic, "--from-beginning", "--timeout", "0", broker=log_url)
    member = start("consume", topic, "--group", unique("cli-g"), "--timeout", "0", broker=log_url)
    try:
        # Both read the record before the topic goes (so both were consuming it).
        for proc in (lone, member):
            assert read_line(proc) == b"first\n"
        strom("topics", "delete", topic, "--yes", broker=log_url).ok()
        for proc in (lone, member):
            run = finish(proc)
            assert run.code == 1, run
            assert f"topic {topic!r} no longer exists: it was deleted while this consumer" in (
                run.err
            )
            assert "(after 1 record printed)" in run.err
    finally:
        for proc in (lone, member):
            if proc.poll() is None:
                proc.kill()


_APP = textwrap.dedent(
    """
    import os

    import strom
    from strom.errors import dead_letter

    env = os.environ
    dead = dead_letter(env["T_DLQ"])
    app = strom.App(
        env["T_APP"],
        broker=env["T_DECOY"],
        on_error=dead if env["T_POLICY"] == "dead_letter" else None,
        commit_interval=0.2,
    )
    numbers = app.topic(env["T_IN"])
    out = app.topic(env["T_OUT"], partitions=1)
    app.stream(numbers).map(lambda v: {"n": v["n"] * 10}, name="times-ten", on_error=dead).to(out)
    """
)


def test_run_follows_the_broker_rule_and_dead_letters_poison_input(
    log_url: str, tmp_path: Path
) -> None:
    (tmp_path / "numbers_app.py").write_text(_APP)
    names = {k: unique(f"cli-{k[2:].lower()}") for k in ("T_APP", "T_IN", "T_OUT", "T_DLQ")}
    decoy = tmp_path / "decoy"
    env = {**names, "T_DECOY": f"local://{decoy}"}
    strom("topics", "create", names["T_IN"], broker=log_url).ok()
    strom("topics", "create", names["T_OUT"], broker=log_url).ok()  # read before the app runs
    strom("produce", names["T_IN"], broker=log_url, input='{"n": 1}\nnot json\n{"n": 2}\n').ok()

    # Every step dead-letters, the app-wide policy is fail(): undecodable input stops the
    # app, and the error says where, what, and which setting covers it. --broker beats both
    # $STROM_BROKER and the app's broker=. (The same on both logs: run on the embedded one.)
    if log_url.startswith("local://"):
        _stops_on_poison_input(log_url, tmp_path, env, names["T_IN"])

    # $STROM_BROKER beats the app's broker=; credentials in the URL are masked in the log.
    url = log_url + ("?sasl.password=hunter2" if log_url.startswith("kafka://") else "")
    running = start(
        "run",
        "numbers_app:app",
        cwd=tmp_path,
        env={**env, "T_POLICY": "dead_letter", "STROM_BROKER": url},
    )
    try:
        read = strom(
            "consume",
            names["T_OUT"],
            "--from-beginning",
            "--max",
            "2",
            "--timeout",
            "60",
            broker=log_url,
        ).ok()
        assert read.out.splitlines() == ['{"n":10}', '{"n":20}']
        running.send_signal(signal.SIGTERM)
        ran = finish(running)
    finally:
        if running.poll() is None:
            running.kill()
    assert ran.code == 0, ran
    assert "(from $STROM_BROKER)" in ran.err
    assert "hunter2" not in ran.err
    if url != log_url:
        assert "sasl.password=***" in ran.err
    assert not decoy.exists() and not (tmp_path / "decoy2").exists()

    shown = strom("dlq", "show", names["T_DLQ"], "--json", broker=log_url).ok()
    (dead,) = [orjson.loads(line) for line in shown.out.splitlines()]
    assert dead["error"]["step"] == f"deserialize:{names['T_IN']}"
    assert f"topic={names['T_IN']!r}, partition=0, offset=1" in dead["error"]["message"]
    assert "b'not json' (8 bytes)" in dead["error"]["message"]

    missing = unique("cli-missing")
    replay = strom("dlq", "replay", names["T_DLQ"], "--to", missing, broker=log_url)
    assert replay.code == 1
    assert f"target topic {missing!r} (--to) does not exist" in replay.err


def _with_terminal_stderr(*args: str, broker: str, input: bytes | None = None) -> Run:
    """Run strom with stderr on a pseudo-terminal (stdout a pipe): what a user sees there."""
    main, side = os.openpty()
    try:
        proc = subprocess.Popen(
            [str(STROM), "--broker", broker, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=side,
            env=environment(),
        )
        os.close(side)
        out, _ = proc.communicate(input=input, timeout=120)
        seen = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
    return Run(proc.returncode, out.decode(), seen.decode(errors="replace"))


def test_progress_on_a_terminal_and_a_clean_stop_on_signals(tmp_path: Path) -> None:
    url = f"local://{tmp_path / 'log'}"
    topic = unique("cli-long")
    strom("topics", "create", topic, broker=url).ok()
    # The live count shows from the start of a run (then every 1,000 records).
    produced = _with_terminal_stderr("produce", topic, broker=url, input=b"1\n2\n3\n")
    assert produced.code == 0 and "records to " + topic in produced.err
    consumed = _with_terminal_stderr("consume", topic, "--from-beginning", "--max", "3", broker=url)
    assert consumed.code == 0 and consumed.out.split() == ["1", "2", "3"]
    assert "records from " + topic in consumed.err
    replayed = _with_terminal_stderr("dlq", "replay", topic, "--to", topic, broker=url)
    assert replayed.code == 0 and "replaying " + topic in replayed.err

    # ctrl-C (SIGINT) and SIGTERM stop a produce reading a terminal or a pipe: what was read
    # is flushed, and counted.
    log = connect(url)
    consumer = log.consumer()
    try:
        for sig, said in ((signal.SIGINT, "(stopped)"), (signal.SIGTERM, "(stopped by SIGTERM)")):
            end = consumer.watermarks(TopicPartition(topic, 0))[1]
            proc = start("produce", topic, broker=url, stdin=subprocess.PIPE)
            assert proc.stdin is not None
            proc.stdin.write(b"a\nb\nc\n")
            proc.stdin.flush()
            wait_for(
                "3 records",
                lambda end=end: consumer.watermarks(TopicPartition(topic, 0))[1] == end + 3,
            )
            proc.send_signal(sig)
            run = finish(proc)
            assert run.code == 0, run
            assert run.err.strip() == f"Produced 3 records to {topic!r} {said}."
    finally:
        consumer.close()
        log.close()


def _stops_on_poison_input(log_url: str, tmp_path: Path, env: dict[str, str], source: str) -> None:
    stopped = strom(
        "run",
        "numbers_app:app",
        broker=log_url,
        cwd=tmp_path,
        env={**env, "T_POLICY": "fail", "STROM_BROKER": f"local://{tmp_path / 'decoy2'}"},
    )
    assert stopped.code == 1, stopped
    assert f"runs on {log_url} (from --broker)" in stopped.err
    error = stopped.err.splitlines()[-1]
    assert f"topic={source!r}, partition=0, offset=1" in error
    assert "b'not json'" in error
    assert "App(on_error=...) or App(on_deserialization_error=...)" in error
