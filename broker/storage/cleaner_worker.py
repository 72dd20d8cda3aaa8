"""The log cleaner's worker process: compaction runs there so the event loop keeps serving.

The worker must never outlive the broker nor hold anything of it. So it is started with
the "spawn" method (a fresh interpreter that inherits only its own pipes: not the
listening socket, not the open segment files, which a forked child would keep after a
kill -9 of the broker and so block its restart on the same port), and it exits as soon
as its parent dies: the kernel's parent-death signal on Linux, and a watchdog thread
that polls the parent pid everywhere (also covering the race where the parent died
before the signal was armed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time

from .cleaner import CleanJob, CleanResult, run_clean

PR_SET_PDEATHSIG = 1
PARENT_POLL_INTERVAL_S = 0.5


def _exit_when_parent_dies(parent_pid: int) -> None:
    """Worker initializer: arm the parent-death signal and start the watchdog."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass  # the watchdog below still covers it
    if os.getppid() != parent_pid:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_INTERVAL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


class CleanerWorker:
    """One spawned worker process, started on first use, that runs compaction jobs."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    async def run(self, job: CleanJob) -> CleanResult:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_when_parent_dies, initargs=(os.getpid(),))
        return await asyncio.get_running_loop().run_in_executor(self._pool, run_clean, job)

    @staticmethod
    async def install(log, result: CleanResult) -> bool:
        """Swap a job's output into `log`, as log.apply_clean does, but with the swap's
        fsyncs (a few, each up to tens of ms while the disk writes back) in a thread:
        the event loop only renames files and updates the log's segment list."""
        plan = log.prepare_swap(result)
        if plan is None:
            return False
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, plan.commit)
            if not log.install_swap(plan):
                return False
            await loop.run_in_executor(None, plan.make_durable)
            return True
        finally:
            log.swap_finished()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
