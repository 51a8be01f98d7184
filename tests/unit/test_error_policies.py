"""Error policies: policy building, resolution per step, backoff math with an injected clock and
random source, max attempts and max elapsed time."""

from __future__ import annotations

from datetime import timedelta

import pytest

import strom.errors as errors
from strom.error_policies import Action, Backoff, ErrorHandler, deserialize_step
from strom.errors import ConfigError, SerializationError


class Clock:
    """A manual clock in epoch ms."""

    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_user_facing_names_live_in_strom_errors() -> None:
    policy = errors.dead_letter("orders-dlq", retry=errors.backoff(5))
    assert policy.action is errors.Action.DEAD_LETTER
    assert policy.topic == "orders-dlq"
    assert policy.retry is not None and policy.retry.max_attempts == 5
    assert errors.skip().action is Action.SKIP
    assert errors.fail().action is Action.FAIL


def test_policies_are_immutable() -> None:
    policy = errors.skip()
    with pytest.raises(AttributeError):
        policy.action = Action.FAIL  # type: ignore[misc]


def test_backoff_converts_durations_to_ms() -> None:
    b = errors.backoff(3, initial=timedelta(milliseconds=250), max_delay=2, max_elapsed=60)
    assert (b.initial_ms, b.max_delay_ms, b.max_elapsed_ms) == (250, 2000, 60_000)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"initial": -1},
        {"initial": 5, "max_delay": 1},
        {"initial": "1s"},
        {"retry_on": ()},
        {"retry_on": (int,)},
    ],
)
def test_invalid_backoff_is_a_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        errors.backoff(**kwargs)  # type: ignore[arg-type]


def test_dead_letter_needs_a_topic() -> None:
    with pytest.raises(ConfigError, match="topic"):
        errors.dead_letter("")


def test_retry_falls_back_to_then() -> None:
    assert errors.retry(3).action is Action.FAIL
    policy = errors.retry(3, then=errors.dead_letter("x-dlq"))
    assert (policy.action, policy.topic) == (Action.DEAD_LETTER, "x-dlq")
    assert policy.retry is not None and policy.retry.max_attempts == 3
    given = errors.backoff(7, jitter=0)
    assert errors.retry(given).retry is given
    with pytest.raises(ConfigError, match="fallback"):
        errors.retry(2, then=errors.skip(retry=errors.backoff(2)))


def test_backoff_delays_grow_exponentially_up_to_max_delay() -> None:
    b = Backoff(max_attempts=10, initial_ms=100, multiplier=2.0, max_delay_ms=1000, jitter=0.0)
    assert [b.delay_ms(n, rand=0.7) for n in range(1, 7)] == [100, 200, 400, 800, 1000, 1000]


def test_jitter_shortens_delays_by_at_most_the_fraction() -> None:
    b = Backoff(initial_ms=1000, jitter=0.25)
    assert b.delay_ms(1, rand=0.0) == 1000
    assert b.delay_ms(1, rand=0.5) == 875
    assert b.delay_ms(1, rand=0.999999) == 750


def test_handler_retries_until_max_attempts_then_takes_terminal_action() -> None:
    clock = Clock()
    handler = ErrorHandler(
        steps={"price": errors.dead_letter("dlq", retry=errors.backoff(3, initial=0.1, jitter=0))},
        clock=clock,
        rand=lambda: 0.5,
    )
    first = clock.now
    r1 = handler.decide(ValueError("x"), step="price", attempt=1, first_failure_ms=first)
    r2 = handler.decide(ValueError("x"), step="price", attempt=2, first_failure_ms=first)
    r3 = handler.decide(ValueError("x"), step="price", attempt=3, first_failure_ms=first)
    assert (r1.action, r1.delay_ms) == (Action.RETRY, 100)
    assert (r2.action, r2.delay_ms) == (Action.RETRY, 200)
    assert (r3.action, r3.topic) == (Action.DEAD_LETTER, "dlq")
    assert r3.terminal and not r1.terminal
    assert "exhausted after 3" in r3.reason


def test_handler_uses_injected_random_for_jitter() -> None:
    handler = ErrorHandler(
        default=errors.retry(5, initial=1, jitter=0.5), clock=Clock(), rand=lambda: 1.0
    )
    assert handler.decide(OSError(), step="s", attempt=1, first_failure_ms=0).delay_ms == 500


def test_max_elapsed_stops_retries_when_next_attempt_would_start_too_late() -> None:
    clock = Clock(now=10_000)
    handler = ErrorHandler(
        default=errors.skip(
            retry=errors.backoff(100, initial=1, multiplier=1, max_elapsed=5, jitter=0)
        ),
        clock=clock,
    )
    first = 10_000
    assert handler.decide(OSError(), step="s", attempt=1, first_failure_ms=first).delay_ms == 1000
    clock.now = first + 4000  # next attempt at +5000: still within 5 s
    assert handler.decide(OSError(), step="s", attempt=5, first_failure_ms=first).action is (
        Action.RETRY
    )
    clock.now = first + 4001  # next attempt at +5001: past max_elapsed
    late = handler.decide(OSError(), step="s", attempt=6, first_failure_ms=first)
    assert late.action is Action.SKIP
    assert "max_elapsed" in late.reason


def test_serialization_errors_are_not_retried() -> None:
    handler = ErrorHandler(
        default=errors.dead_letter("bad", retry=errors.backoff(5)), clock=Clock()
    )
    response = handler.decide(
        SerializationError("not JSON"), step=deserialize_step("t"), attempt=1, first_failure_ms=0
    )
    assert (response.action, response.topic) == (Action.DEAD_LETTER, "bad")


def test_retry_on_limits_which_errors_are_retried() -> None:
    handler = ErrorHandler(
        default=errors.retry(5, retry_on=(ConnectionError,), then=errors.skip()), clock=Clock()
    )
    assert handler.decide(ConnectionError(), step="s", attempt=1, first_failure_ms=0).action is (
        Action.RETRY
    )
    other = handler.decide(KeyError("k"), step="s", attempt=1, first_failure_ms=0)
    assert other.action is Action.SKIP
    assert "KeyError is not in retry_on" in other.reason


def test_policy_resolution_step_override_then_deserialization_then_default() -> None:
    handler = ErrorHandler(
        default=errors.fail(),
        steps={"parse": errors.skip(), deserialize_step("special"): errors.fail()},
        deserialization=errors.dead_letter("decode-dlq"),
    )
    assert handler.policy_for("parse").action is Action.SKIP
    assert handler.policy_for("other").action is Action.FAIL
    assert handler.policy_for("deserialize:orders").topic == "decode-dlq"
    assert handler.policy_for("deserialize:special").action is Action.FAIL
    assert handler.dead_letter_topics() == ["decode-dlq"]


def test_default_handler_fails_without_retry() -> None:
    response = ErrorHandler().decide(ValueError(), step="s", attempt=1, first_failure_ms=0)
    assert response.action is Action.FAIL


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ConfigError, match="attempt"):
        ErrorHandler().decide(ValueError(), step="s", attempt=0, first_failure_ms=0)
