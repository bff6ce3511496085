"""How our Prefect tasks retry and cache: only TransientError is retried, side effects are never cached."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from tasks.core.errors import is_transient

F = TypeVar("F", bound=Callable[..., Any])

RETRY_DELAYS = [1.0, 4.0, 15.0]  # on top of the adapters' own quick retries: for longer outages


def retry_transient_only(_task: Task[Any, Any], _run: TaskRun, state: State[Any]) -> bool:
    """Retry a task only when it failed with a TransientError."""
    outcome = state.result(raise_on_failure=False)  # a failed state gives back its exception
    return isinstance(outcome, BaseException) and is_transient(outcome)


def side_effect_task(*, name: str, retries: int = len(RETRY_DELAYS), **options: Any) -> Callable[[F], Any]:
    """A task that wraps one side effect: no cache, no persisted result (it may hold PII), transient retries."""

    def decorate(fn: F) -> Any:
        settings: dict[str, Any] = {"name": name, "cache_policy": NO_CACHE, "persist_result": False, **options}
        if retries:
            settings.update(
                retries=retries,
                retry_delay_seconds=RETRY_DELAYS[:retries],
                retry_jitter_factor=0.5,
                retry_condition_fn=retry_transient_only,
            )
        return task(**settings)(fn)

    return decorate
