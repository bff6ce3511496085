"""How our Prefect tasks retry and cache: only TransientError is retried, side effects are never cached."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from tasks.errors import is_transient

F = TypeVar("F", bound=Callable[..., Any])

RETRY_DELAYS = [1.0, 4.0, 15.0]  # on top of the adapters' own quick retries: for longer outages


def retry_transient_only(_task: Task[Any, Any], _run: TaskRun, state: State[Any]) -> bool:
    """Retry a task only when it failed with a TransientError."""
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:  # the state's stored exception is re-raised here; inspect it
        return is_transient(exc)
    return False


def side_effect_task(*, name: str, retries: int = len(RETRY_DELAYS), **options: Any) -> Callable[[F], Any]:
    """A task that wraps one side effect: no cache, no persisted result (it may hold PII), transient retries."""

    def decorate(fn: F) -> Any:
        return task(
            fn,
            name=name,
            cache_policy=NO_CACHE,
            persist_result=False,
            retries=retries,
            retry_delay_seconds=RETRY_DELAYS[:retries] if retries else None,
            retry_jitter_factor=0.5 if retries else None,
            retry_condition_fn=retry_transient_only if retries else None,
            **options,
        )

    return decorate
