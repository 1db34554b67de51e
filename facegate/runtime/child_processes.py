"""Child processes for model work: a pool that replaces itself when a child dies, and the
watch that makes a child leave with its parent."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from facegate.errors import ModelError

T = TypeVar("T")
logger = logging.getLogger(__name__)


class RestartingPool:
    """``count`` spawned children, each set up by ``initializer(*initargs)``. When a child dies
    (a crash in native code, the OOM killer) a fresh pool takes over and the call is tried once
    more: a child that died idle costs one retry, not the request; a call that kills a child
    twice raises ModelError naming ``what``."""

    def __init__(self, count: int, initializer: Callable[..., None], initargs: tuple[Any, ...],
                 *, what: str) -> None:
        self.count = count
        self._initializer, self._initargs, self._what = initializer, initargs, what
        self._lock = threading.Lock()
        self.executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.count, mp_context=multiprocessing.get_context("spawn"),
            initializer=self._initializer, initargs=self._initargs)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        for attempt in (1, 2):
            pool = self.executor
            try:
                return pool.submit(fn, *args).result()
            except BrokenProcessPool as exc:
                with self._lock:
                    if self.executor is pool:
                        self.executor = self._start()
                        pool.shutdown(wait=False, cancel_futures=True)
                        logger.error("a %s process stopped; started new ones", self._what)
                if attempt == 2:
                    raise ModelError(f"a {self._what} process stopped while reading this photo"
                                     ) from exc
        raise AssertionError("unreachable")

    def pids(self) -> list[int]:
        """Process ids of the running children."""
        return sorted(process.pid for process in list(self.executor._processes.values())
                      if process.pid is not None)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def watch_parent() -> None:
    """In a child: exit when the parent that started it is gone."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="facegate-parent-watch").start()


def _exit_with_parent(parent: int) -> None:
    """A child whose server was killed (``kill -9``) exits instead of lingering: its task queue
    never reports end-of-file, because every child holds that pipe's writing end too."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
