"""Concurrent readers through one assumed session, on dynalite: items/s, errors, peak memory.

    .venv/bin/python benchmarks/bench_concurrency.py          # ~3 min on 2 cores

The session is a real assumed-role session: the sandbox (moto, IAM enforced) provisions
params/local.yaml and the analyst assumes its role (``assume_from_spec``: self-refreshing
credentials); STS and IAM go to the sandbox, DynamoDB goes to dynalite
(``AWS_ENDPOINT_URL_DYNAMODB``), whose speed leaves the client as the bottleneck.

* threads: 1, 4, 16 and 32 readers in this process, each ``RemoteTable(session, "orders")
  .scan()`` of the whole table ``--reads`` times, all on the one session object;
* processes: the same counts of reader processes (forkserver, xacct_nb preloaded), each building
  its session from the assumed session's credentials (what ``to_dask(credentials="frozen")``
  ships), reading once untimed, then all starting together;
* repeated: one fresh process reads the table 200 times and reports its RSS along the way.

Peak RSS is VmHWM: for threads it is this process's peak so far (the counts run in increasing
order), for processes the largest child's. Results: benchmarks/results/concurrency.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # dynalite_server, shared with the tests
ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "concurrency.json"
TABLE = "orders"


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} in /proc/self/status (the memory figures need Linux)")


def read_once(session: boto3.Session) -> int:
    from xacct_nb import RemoteTable

    return len(RemoteTable(session, TABLE, progress=False).scan())


def reader(session: boto3.Session, reads: int, errors: Counter, counts: list[int]) -> None:
    for _ in range(reads):
        try:
            counts.append(read_once(session))
        except Exception as err:  # noqa: BLE001 — counted, that is the measurement
            errors[f"{type(err).__name__}: {str(err)[:120]}"] += 1


def run_threads(session: boto3.Session, readers: int, reads: int) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    counts: list[int] = []
    threads = [threading.Thread(target=reader, args=(session, reads, errors, counts))
               for _ in range(readers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"readers": readers, "reads": len(counts), "items": sum(counts),
            "seconds": round(wall, 2), "items_per_s": round(sum(counts) / wall),
            "errors": sum(errors.values()), "error_kinds": dict(errors),
            "peak_rss_mb": round(_status_mb("VmHWM"))}


def _child_session(keys: dict[str, Any]) -> boto3.Session:
    return boto3.Session(aws_access_key_id=keys["access_key"],
                         aws_secret_access_key=keys["secret_key"],
                         aws_session_token=keys["token"], region_name="us-east-1")


def process_reader(keys: dict[str, Any], reads: int, start_at: float) -> dict[str, Any]:
    """One reader process: waits for the common start, reads, reports its counts and peak."""
    session = _child_session(keys)
    read_once(session)  # this process's first client and DescribeTable: before the timing
    time.sleep(max(0.0, start_at - time.time()))
    errors: Counter[str] = Counter()
    counts: list[int] = []
    reader(session, reads, errors, counts)
    return {"items": sum(counts), "reads": len(counts), "errors": dict(errors),
            "peak_rss_mb": _status_mb("VmHWM"), "finished": time.time()}


def run_processes(keys: dict[str, Any], readers: int, reads: int) -> dict[str, Any]:
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(readers, mp_context=context) as pool:
        list(pool.map(_warm, range(readers)))  # the processes exist and have imported
        start_at = time.time() + 2 + 0.25 * readers  # after every reader's warm-up read
        futures = [pool.submit(process_reader, keys, reads, start_at) for _ in range(readers)]
        done = [f.result() for f in futures]
    wall = max(d["finished"] for d in done) - start_at
    items = sum(d["items"] for d in done)
    errors: Counter[str] = Counter()
    for d in done:
        errors.update(d["errors"])
    return {"readers": readers, "reads": sum(d["reads"] for d in done), "items": items,
            "seconds": round(wall, 2), "items_per_s": round(items / wall),
            "errors": sum(errors.values()), "error_kinds": dict(errors),
            "peak_rss_mb": round(max(d["peak_rss_mb"] for d in done)),
            "sum_peak_rss_mb": round(sum(d["peak_rss_mb"] for d in done))}


def _warm(_: int) -> int:
    from xacct_nb import RemoteTable  # noqa: F401 — imported once per process, before timing

    return os.getpid()


def repeated_reads(keys: dict[str, Any], reads: int) -> dict[str, Any]:
    """RSS of one process over `reads` whole-table reads (a fresh process: a clean baseline)."""
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_repeated_child, keys, reads).result()


def _repeated_child(keys: dict[str, Any], reads: int) -> dict[str, Any]:
    session = _child_session(keys)
    marks = {1, 10, 50, 100, 150, reads}
    rss: dict[int, float] = {}
    errors = 0
    started = time.perf_counter()
    for n in range(1, reads + 1):
        try:
            read_once(session)
        except Exception:  # noqa: BLE001 — counted
            errors += 1
        if n in marks:
            rss[n] = round(_status_mb("VmRSS"), 1)
    return {"reads": reads, "errors": errors, "seconds": round(time.perf_counter() - started, 1),
            "rss_mb_after_read": rss, "growth_mb_10_to_last": round(rss[reads] - rss[10], 1),
            "peak_rss_mb": round(_status_mb("VmHWM"), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--readers", default="1,4,16,32")
    parser.add_argument("--reads", type=int, default=2, help="whole-table reads per reader")
    parser.add_argument("--repeated", type=int, default=200)
    args = parser.parse_args()

    from bench_read import seed

    from dynalite_server import Dynalite, unavailable_reason
    from xacct_nb.provisioning import apply
    from xacct_nb.sandbox import Sandbox
    from xacct_nb.sessions import assume_from_spec
    from xacct_nb.spec import load_spec

    reason = unavailable_reason()
    if reason:
        print(f"concurrency benchmark skipped: {reason}")
        return
    counts = [int(n) for n in args.readers.split(",")]
    with tempfile.TemporaryDirectory() as folder, Sandbox(port=0, state_dir=folder) as sandbox, \
            Dynalite() as endpoint:
        os.environ.update(sandbox.env)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint  # DynamoDB only; STS/IAM: sandbox
        seed(boto3.Session(aws_access_key_id="seed", aws_secret_access_key="seed",
                           region_name="us-east-1"), TABLE, args.items)
        spec = load_spec(ROOT / "params" / "local.yaml")
        apply(spec, confirm=spec.env, progress=lambda _line: None)
        session = assume_from_spec(spec, wait=60)
        frozen = session.get_credentials().get_frozen_credentials()
        keys = {"access_key": frozen.access_key, "secret_key": frozen.secret_key,
                "token": frozen.token}
        multiprocessing.set_forkserver_preload(["xacct_nb.dynamo.table", "pandas", "pyarrow"])
        print(f"dynalite {endpoint}: {args.items:,} items; role {spec.role_arn} assumed",
              flush=True)
        read_once(session)  # imports and first client, before any timing
        results: dict[str, Any] = {"threads": [], "processes": []}
        for n in counts:
            results["threads"].append(run_threads(session, n, args.reads))
            print("threads  ", json.dumps(results["threads"][-1]), flush=True)
        for n in counts:
            results["processes"].append(run_processes(keys, n, args.reads))
            print("processes", json.dumps(results["processes"][-1]), flush=True)
        results["repeated"] = repeated_reads(keys, args.repeated)
        print("repeated ", json.dumps(results["repeated"]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "items": args.items,
        "reads_per_reader": args.reads, "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **results}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
