"""A zombie must be fenced: the application process is SIGSTOPped past its session timeout
while its transaction holds outputs; a second process takes its partitions over, processes
the same records again and commits; then the first one is SIGCONTed. Exactly-once means its
late commit fails and nothing of its transaction becomes visible.

Found by the crash harness (issue 13): the resumed process learns that its partitions were
lost, rejoins the group, and commits the transaction it had open, under the new generation:
the outputs of every record it had processed before the pause appear twice (and the rolling
counts jump), on both logs. ``Runner._on_lost`` drops the tasks but neither aborts the open
transaction nor rewinds. Reproduce: ``python -m tests.crash run --log local --kills 0
--zombies 1 --commit-interval 3`` (or ``--log kafka``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.crash.harness import Case, Run
from tests.integration.crash.test_crash import _explain

ZOMBIE_BUG = (
    "issue 13: a member that lost its partitions (paused past its session timeout) commits "
    "its open transaction after rejoining; the new owner's outputs of the same records are "
    "then visible twice (Runner._on_lost neither aborts the transaction nor rewinds)"
)


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["local", pytest.param("kafka", marks=pytest.mark.kafka)])
@pytest.mark.xfail(strict=True, reason=ZOMBIE_BUG)
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
