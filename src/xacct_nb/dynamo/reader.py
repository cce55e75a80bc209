"""One read: a Scan or Query over one or more segments, pages fetched by a thread per segment
ahead of the conversion, budgets (``max_items``, ``max_rcu``) applied, stats kept.

:class:`PageReader` knows nothing of DataFrames: it yields the items of each page; the table
turns them into columns.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any

from ..errors import InputError
from ..progress import Progress, ProgressEvent
from .arrow_parse import ArrowItems
from .expressions import portable_key, request_key
from .schema import TableInfo

__all__ = ["QUIET_ENV", "PageReader", "auto_progress"]

QUIET_ENV = "XACCT_NB_QUIET"

# fetch(client, operation, request, index) -> one page: its envelope (Count, LastEvaluatedKey,
# ConsumedCapacity...) and "Items" as ArrowItems (parsed on first use); raises our one-line errors
Fetch = Callable[[Any, str, dict, "str | None"], dict]

class PageReader:
    """A Scan or Query over one or more segments; :meth:`pages` yields each page's parsed items."""

    def __init__(self, info: TableInfo, client: Any, fetch: Fetch, operation: str, request: dict,
                 *, index: str | None, segments: int, start_key: Any, max_items: int | None,
                 max_rcu: float | None, page_size: int | None, filtered: bool,
                 progress: Progress, total_hint: int | None):
        self.info = info
        self.client = client  # one client for every segment thread; its pool fits them
        self.fetch = fetch
        self.operation = operation
        self.request = request
        self.index = index
        self.segments = segments
        self.max_items = max_items
        self.max_rcu = max_rcu
        self.page_size = page_size
        self.filtered = filtered
        self.progress = progress
        self.total_hint = total_hint
        # the read's key, then the table's: the frame's first columns, and the attributes of a
        # resume key (a page cut at max_items resumes after its last kept item)
        self.key_names = tuple(dict.fromkeys([*info.key_for(index).names, *info.key.names]))
        self.items_per_rcu = _items_per_rcu(info, index, request.get("ConsistentRead", False))
        # per segment: {} = not started, a key = resume there, None = finished
        self.resume: list[dict | None] = _start_keys(start_key, segments)
        self.pages_read = self.items = self.scanned = 0
        self.consumed = 0.0
        # the fetching threads' own count, ahead of the caller's: it sizes requests and stops them
        self.fetched_items, self.fetched_rcu = 0, 0.0
        self._fetch_lock = threading.Lock()
        self.reason: str | None = None
        self.started = self.finished = 0.0
        self._bar = None

    # -- stats ---------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        partial = any(key is not None for key in self.resume)
        end = self.finished or time.perf_counter()
        resume = [portable_key(key) for key in self.resume] if partial else None
        return {
            "operation": self.operation, "table": self.info.name, "index": self.index,
            "partial": partial,
            "reason": (self.reason or "stopped by the caller") if partial else None,
            "pages": self.pages_read, "items": self.items, "scanned": self.scanned,
            "consumed_rcu": self.consumed, "seconds": round(end - self.started, 3),
            "segments": self.segments,
            "last_evaluated_key": resume[0] if resume and self.segments == 1 else resume,
        }

    # -- the loop ------------------------------------------------------------------------------
    def pages(self) -> Iterator[ArrowItems]:
        self.started = time.perf_counter()
        source = self._fetched_pages()
        try:
            for segment, page in source:
                items = self._take(segment, page)
                self._report(len(items), more=page.get("LastEvaluatedKey") is not None)
                if items:
                    yield items
                if self.reason:
                    break
        finally:
            source.close()
            self.finished = time.perf_counter()
            if self._bar is not None:
                self._bar.close()

    def _take(self, segment: int, page: Mapping[str, Any]) -> ArrowItems:
        """Account for one page; cut it at max_items; remember where its segment resumes."""
        items: ArrowItems = page["Items"]
        self.pages_read += 1
        self.scanned += page.get("ScannedCount", len(items))
        self.consumed += _capacity(page)
        resume = page.get("LastEvaluatedKey") or None
        if self.max_items is not None and self.items + len(items) >= self.max_items:
            keep = self.max_items - self.items
            if keep < len(items):
                items = items[:keep]
                resume = {name: items[-1][name] for name in self.key_names}
            self.reason = "max_items"
        elif self.max_rcu is not None and self.consumed >= self.max_rcu:
            self.reason = "max_rcu"
        self.resume[segment] = resume
        self.items += len(items)
        return items

    # -- fetching: worker threads, ahead of the conversion ---------------------------------------
    def _fetched_pages(self) -> Generator[tuple[int, dict], None, None]:
        """(segment, raw page) pairs. One thread per unfinished segment — also for a single
        segment, so the next page is on its way while this one is converted — all on one client
        whose pool fits them (measured with 4 threads: within 5% of a client per thread, the
        noise level, and each extra client costs ~5 ms to create).
        A small queue between them bounds the pages held when conversion is the slower side."""
        client = self.client
        pending = [s for s in range(self.segments) if self.resume[s] is not None]
        pipe: queue.Queue = queue.Queue(maxsize=max(1, len(pending)))
        stop = threading.Event()

        def work(segment: int) -> None:
            try:
                for page in self._segment_pages(client, segment, stop):
                    if not _put(pipe, (segment, page), stop):
                        return
                _put(pipe, (segment, None), stop)
            except BaseException as err:  # handed to the caller's thread, which raises it
                _put(pipe, (segment, err), stop)

        threads = [threading.Thread(target=work, args=(s,), daemon=True,
                                    name=f"xacct-{self.info.name}-segment-{s}") for s in pending]
        for thread in threads:
            thread.start()
        try:
            running = len(threads)
            while running:
                segment, page = pipe.get()
                if page is None:
                    running -= 1
                elif isinstance(page, BaseException):
                    raise page
                else:
                    yield segment, page
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    def _segment_pages(self, client, segment: int, stop: threading.Event) -> Iterator[dict]:
        start = self.resume[segment]
        request = dict(self.request)
        if self.segments > 1:
            request.update(Segment=segment, TotalSegments=self.segments)
        while start is not None and not stop.is_set() and not self._budget_fetched():
            if start:
                request["ExclusiveStartKey"] = request_key(start)
            limit = self._limit()
            if limit:
                request["Limit"] = limit
            else:
                request.pop("Limit", None)
            page = self.fetch(client, self.operation, request, self.index)
            with self._fetch_lock:
                self.fetched_items += len(page.get("Items") or ())
                self.fetched_rcu += _capacity(page)
            yield page
            start = page.get("LastEvaluatedKey") or None

    def _budget_fetched(self) -> bool:
        """Pages already fetched fill the budgets: asking for more would only be discarded."""
        return ((self.max_items is not None and self.fetched_items >= self.max_items)
                or (self.max_rcu is not None and self.fetched_rcu >= self.max_rcu))

    def _limit(self) -> int | None:
        """Limit for the next request: the page size, and no more than the budgets need."""
        limits = [self.page_size] if self.page_size else []
        if self.max_items is not None and not self.filtered:
            # without a filter every evaluated item is returned: read exactly what is missing
            limits.append(max(1, self.max_items - self.fetched_items))
        if self.max_rcu is not None and self.items_per_rcu:
            limits.append(max(1, int((self.max_rcu - self.fetched_rcu) * self.items_per_rcu)))
        return min(limits) if limits else None

    # -- progress ------------------------------------------------------------------------------
    def _report(self, count: int, more: bool) -> None:
        if callable(self.progress):
            stats = self.stats()
            self.progress(ProgressEvent(_progress_line(stats), stats))
            return
        if not self.progress:
            return
        if self._bar is None and (more or self.segments > 1):  # only multi-page reads get a bar
            from tqdm.auto import tqdm

            where = self.info.name + (f"/{self.index}" if self.index else "")
            # in a notebook the bar stays when done: a closed bar closes its widget, and the saved
            # output then says "model not found" after a page reload (a terminal bar is erased)
            self._bar = tqdm(total=self.total_hint, unit=" items", leave="ipykernel" in sys.modules,
                             desc=f"{self.operation.lower()} {where}", initial=self.items - count)
        if self._bar is not None:
            self._bar.update(count)


def _capacity(page: Mapping[str, Any]) -> float:
    return float((page.get("ConsumedCapacity") or {}).get("CapacityUnits", 0))


def _put(pipe: queue.Queue, entry: tuple, stop: threading.Event) -> bool:
    """Queue an entry unless the reader stopped (a blocking put could wait forever)."""
    while not stop.is_set():
        try:
            pipe.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _start_keys(start_key: Any, segments: int) -> list[dict | None]:
    if start_key is None:
        return [{} for _ in range(segments)]
    if segments == 1 and isinstance(start_key, Mapping):
        return [dict(start_key)]
    if isinstance(start_key, list) and len(start_key) == segments:
        return [None if k is None else dict(k) for k in start_key]
    raise InputError(f"start_key does not fit a read with segments={segments} — pass "
                     "df.attrs['xacct']['last_evaluated_key'] of a read with the same segments")


def _items_per_rcu(info: TableInfo, index: str | None, consistent: bool) -> float | None:
    count, size = info.size_of(index)
    if not count or not size:
        return None
    # one RCU reads 4 KB strongly consistent, 8 KB eventually consistent
    return (4096 if consistent else 8192) / (size / count)


def auto_progress() -> bool:
    if os.environ.get(QUIET_ENV, "") not in ("", "0"):
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()


def _progress_line(stats: Mapping[str, Any]) -> str:
    where = stats["table"] + (f" index {stats['index']}" if stats["index"] else "")
    return (f"{stats['operation'].lower()} {where}: {stats['pages']} pages, {stats['items']:,} items, "
            f"{stats['consumed_rcu']:g} RCU, {stats['seconds']:.1f} s")
