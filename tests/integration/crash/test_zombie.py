"""A zombie must be fenced: the application process is SIGSTOPped past its session timeout
while its transaction holds outputs; a second process takes its partitions over, processes
the same records again and commits; then the first one is SIGCONTed. Exactly-once means its
late commit fails and nothing of its transaction becomes visible.

Found by the crash harness (issue 13), fixed since: the resumed process learned that its
partitions were lost, rejoined the group, and committed the transaction it had open, under the
new generation, so the outputs of every record it had processed before the pause appeared
twice; ``Runner._on_lost`` now aborts the open transaction and rewinds. On Kafka the new
owner's restore then sat on the aborted transaction's markers (a consumer seeked onto a
marker gets nothing that moves its position); the restore now sees when only such offsets
remain. Reproduce: ``python -m tests.crash run --log local --kills 0 --zombies 1
--commit-interval 3`` (or ``--log kafka``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.crash.harness import Case, Run
from tests.integration.crash.test_crash import _explain


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["local", pytest.param("kafka", marks=pytest.mark.kafka)])
def test_a_paused_process_past_its_session_commits_nothing_when_resumed(
    broker: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"local://{tmp_path / 'log'}"
        if broker == "local"
        else str(request.getfixturevalue("kafka_url"))
    )
    # A long commit interval: the transaction open when the process is paused surely holds
    # outputs (the harness's own zombie lands anywhere in a 100 ms interval).
    case = Case(
        log=broker,
        kills=0,
        zombies=1,
        commit_interval=3.0,
        session_ms=6000 if broker == "kafka" else 3000,
        static_membership=False,
    )
    result = Run(case, url, tmp_path / "run").execute()
    assert [z["second_took_over"] for z in result.zombies] == [True], result.zombies
    assert result.ok, _explain(result)
