"""Work handed to a thread pool at a given moment, so that no pool thread sleeps waiting for its slot.

A message the rate limits booked for later would otherwise hold a send thread while it waits: a few
throttled chats (or a channel at its account-wide limit) could take every thread, and other channels'
messages, due now, would wait behind them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class TimedPool:
    """A thread pool with `submit_at`: one timer thread hands each job to the pool when its time comes."""

    def __init__(self, pool: ThreadPoolExecutor, *, name: str) -> None:
        self._pool = pool
        self._name = name
        self._waiting: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._closed = False
        self._timer: threading.Thread | None = None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run fn(*args) on the pool now."""
        return self._pool.submit(fn, *args)

    def submit_at(self, at: float, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run fn(*args) on the pool at `at` (time.monotonic()), or now if that has passed."""
        if at <= time.monotonic():
            return self._pool.submit(fn, *args)
        result: Future[T] = Future()

        def start() -> None:
            _chain(self._pool.submit(fn, *args), result)

        with self._changed:
            if self._closed:
                raise RuntimeError("the pool is closed")
            heapq.heappush(self._waiting, (at, next(self._order), start))
            if self._timer is None:
                self._timer = threading.Thread(target=self._run, name=f"{self._name}-timer", daemon=True)
                self._timer.start()
            self._changed.notify()
        return result

    def close(self) -> None:
        """Start what still waits at once, then stop the pool once everything has run."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._timer is not None:
            self._timer.join()
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._waiting and not self._closed and self._waiting[0][0] > time.monotonic():
                    self._changed.wait(self._waiting[0][0] - time.monotonic())
                while not self._waiting and not self._closed:
                    self._changed.wait()
                due = []
                while self._waiting and (self._closed or self._waiting[0][0] <= time.monotonic()):
                    due.append(heapq.heappop(self._waiting)[2])
                finished = self._closed and not self._waiting
            for start in due:
                start()
            if finished:
                return


def _chain(inner: Future[T], outer: Future[T]) -> None:
    def copy(done: Future[T]) -> None:
        error = done.exception()
        if error is not None:
            outer.set_exception(error)
        else:
            outer.set_result(done.result())

    inner.add_done_callback(copy)
