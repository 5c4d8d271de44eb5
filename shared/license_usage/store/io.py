"""The one pool of I/O threads of a process: the store's pieces of I/O that run side by side (the
events' conditional puts, a count's users and groups, the rollups' per-user updates). Its size is
``STORE_IO_THREADS`` (8 unless set): DynamoDB Local applies one write call at a time, so more
threads only add switching there; on AWS more of them cut a batch's latency."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache


@cache
def io_pool() -> ThreadPoolExecutor:
    threads = int(os.environ.get("STORE_IO_THREADS") or 8)
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="store-io")
