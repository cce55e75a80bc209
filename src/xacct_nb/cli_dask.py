"""The CLI's ``xacct-nb scan ... --dask local|tcp://HOST:PORT --out DIR``: a partitioned Parquet
dataset written by Dask workers, one file per scan segment (each a typed Arrow table,
:meth:`RemoteTable.to_arrow`), the schemas unified at the end (:func:`.dynamo.distributed.unify_dataset`).

CLI-only: the library's Dask entry point is :meth:`RemoteTable.to_dask`.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from .dynamo.distributed import WorkerCredentials, only_segment, unify_dataset, worker_credentials
from .dynamo.parquet import read_stats, write_parquet
from .dynamo.reader import QUIET_ENV
from .dynamo.table import FULL_SCAN_ITEM_LIMIT, RemoteTable
from .errors import InputError, XacctError
from .extras import require

__all__ = ["check_dask_arguments", "dask_client", "scan_to_dataset", "write_parquet_dataset"]

SCHEDULER_TIMEOUT = "10s"  # connecting to a --dask tcp:// scheduler


def write_parquet_dataset(client: Any, source: WorkerCredentials, table_name: str, segments: int,
                          read: Mapping[str, Any], out: str | os.PathLike[str], *,
                          progress: bool = False) -> dict[str, Any]:
    """Each segment read by a Dask task as a typed Arrow table (:meth:`RemoteTable.to_arrow`)
    into ``part-NNNNN.parquet`` of a temporary folder beside ``out``; then the schemas unified
    (every file cast to the one schema) and the folder renamed to ``out``. Workers write the
    files, so ``out`` must be on a filesystem they share with this process. Returns the read's
    totals (rows, pages, consumed_rcu, partitions)."""
    target = _check_new_folder(out)
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        futures = client.map(write_partition, range(segments), source=source, table_name=table_name,
                             segments=segments, read=dict(read), folder=str(staging), pure=False)
        if progress:
            from distributed import progress as show_progress

            show_progress(futures)
        results = client.gather(futures)
        unify_dataset(staging, [r["path"] for r in results])
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"rows": sum(r["rows"] for r in results), "pages": sum(r["pages"] for r in results),
            "consumed_rcu": sum(r["consumed_rcu"] for r in results), "partitions": segments}


def _check_new_folder(out: str | os.PathLike[str]) -> Path:
    target = Path(out)
    if target.exists():
        raise InputError(f"--out {out}: already exists — name a new folder (the dataset is "
                         "written to a temporary one and renamed at the end)")
    return target


def write_partition(segment: int, *, source: WorkerCredentials, table_name: str, segments: int,
                    read: Mapping[str, Any], folder: str) -> dict[str, Any]:
    """One segment as one Parquet file; its numbers for the summary."""
    table = RemoteTable(source.session(), table_name, progress=False)
    arrow = table.to_arrow("scan", segments=segments, start_key=only_segment(segment, segments),
                           allow_full_scan=True, **read)
    stats = read_stats(arrow)
    path = write_parquet(arrow, Path(folder) / f"part-{segment:05d}.parquet")
    return {"path": str(path), "rows": arrow.num_rows, "pages": stats.get("pages", 0),
            "consumed_rcu": stats.get("consumed_rcu", 0.0)}




def check_dask_arguments(address: str, limit: int | None, max_rcu: float | None, out: str) -> None:
    """Refuse, before any AWS call, what --dask cannot do."""
    require("dask", "scan --dask")
    _check_new_folder(out)
    if address != "local" and not address.startswith(("tcp://", "tls://")):
        raise InputError(f"--dask {address}: use 'local' (a LocalCluster on this machine) or a "
                         "scheduler address tcp://HOST:PORT")
    if limit is not None or max_rcu is not None:
        raise InputError("--limit/--max-rcu cannot apply per partition: --dask reads every segment "
                         "whole — drop them, or read without --dask")


def scan_to_dataset(session: boto3.Session, request: Mapping[str, Any], address: str, *,
                    credentials: str = "recipe") -> str:
    """The CLI's --dask scan: a partitioned Parquet dataset; returns the one-line summary."""
    read = {k: v for k, v in request["read"].items()
            if k not in ("segments", "allow_full_scan", "max_items", "max_rcu")}
    segments, table_name, out = request["read"]["segments"], request["table"], request["out"]
    table = RemoteTable(session, table_name, progress=False)
    count = table.describe().item_count or 0
    if count > FULL_SCAN_ITEM_LIMIT and not request["read"]["allow_full_scan"]:
        raise InputError(f"table {table_name} has about {count:,} items: --dask reads it whole — "
                         "add --all")
    source = worker_credentials(session, credentials)
    bar = sys.stderr.isatty() and os.environ.get(QUIET_ENV, "") in ("", "0")
    started = time.perf_counter()
    with dask_client(address) as client:
        totals = write_parquet_dataset(client, source, table_name, segments, read, out, progress=bar)
    where = table_name + (f" index {read['index']}" if read.get("index") else "")
    return (f"scan {where}: {totals['rows']:,} rows, {totals['pages']} pages, "
            f"{totals['consumed_rcu']:g} RCU, {time.perf_counter() - started:.1f} s, complete, "
            f"{totals['partitions']} partitions → {out}")


@contextmanager
def dask_client(address: str) -> Iterator[Any]:
    """A Client of a new LocalCluster (worker processes) for "local", else of that scheduler."""
    from distributed import Client, LocalCluster

    if address == "local":
        with LocalCluster(processes=True, dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError) as err:
        raise XacctError(f"cannot reach the Dask scheduler at {address} ({type(err).__name__}) — "
                         "start it (`dask scheduler`) and its workers, check the address, or use "
                         "--dask local") from None
    with client:
        yield client
