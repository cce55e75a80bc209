"""Client CPU per item of loading a whole DynamoDB table into pandas, six ways (issue 4).

    .venv/bin/python benchmarks/bench_read.py                        # 20k items (~4 min)
    .venv/bin/python benchmarks/bench_read.py --memory-items 100000  # + peak memory at 100k

The sandbox (moto) runs in a process of its own — `xacct-nb sandbox --no-enforce` — so this
process's `time.process_time()` is the client's CPU only (all its threads). The table holds the
sandbox's mixed-type `orders` items (strings, numbers of varying precision and past 2**63, sets,
binary, maps, lists, NULL, missing attributes; ~300 bytes each). Every way reads the whole table
once, after a one-page warm-up (imports, models, clients). Ways:

1. boto3 resource ``Table.scan`` loop + ``pd.DataFrame(items)``
2. ``awswrangler.dynamodb.read_items`` with its default threads, 3. with ``use_threads=False``
4. ours: ``RemoteTable.scan(allow_full_scan=True)`` (raw bodies parsed by ``pyarrow.json``,
   each page typed while the next downloads), 5. ours with ``segments=4``
6. ours ``RemoteTable.to_arrow`` (the typed ``pyarrow.Table``, no DataFrame)
7. the floor: ``raw_items.iter_pages`` (benchmarks/raw_items.py) — raw pages + ``json.loads``,
   no DataFrame at all
8. ours ``read_export`` of a full export of the same items (DYNAMODB_JSON in AWS's layout, put in
   the sandbox's S3 before the timing, 5,000 items per data file): its CPU per item is compared
   with way 4's (target ≤ 1.0×: both parse with ``pyarrow.json`` and convert with one converter)

``--only TEXT[,TEXT...]`` runs just the ways whose name contains one of them (e.g. ``--only
"scan (1,read_export"`` for ways 4 and 8).

A way that raises is recorded as FAILED with its error line, never as zero. Peak memory is
measured in a fresh child process (``ru_maxrss``) loading ``--memory-items`` items with ours.
Results: printed, and written to benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import boto3

RESULTS = Path(__file__).parent / "results" / "latest.json"
TABLE = "bench"
TARGETS = {"vs_boto3": 0.40, "vs_wrangler": 0.30, "vs_floor": 1.5, "export_vs_scan": 1.0}
MEMORY_FIXED_MB = 200


# --- the sandbox, in its own process -----------------------------------------------------------

def start_sandbox(state_dir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "xacct_nb.cli", "sandbox", "--port", str(port), "--dir",
         str(state_dir), "--orders", "0", "--no-enforce"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # the last line of its banner is printed once it is ready
        if line.startswith("Ctrl-C stops it"):
            return proc, f"http://127.0.0.1:{port}"
    raise SystemExit(f"sandbox did not start (exit {proc.wait()})")


def stop_sandbox(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def seed(session: boto3.Session, table: str, count: int) -> None:
    from xacct_nb.sandbox.seed import TABLES, order_item

    ddb = session.client("dynamodb")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST", **TABLES["orders"])
    rng = random.Random(4)
    for start in range(0, count, 25):
        batch = [{"PutRequest": {"Item": order_item(rng, n, 500)}}
                 for n in range(start, min(start + 25, count))]
        ddb.batch_write_item(RequestItems={table: batch})


# --- the ways -------------------------------------------------------------------------------
# Each takes (session, table, max_items) and returns the number of rows it produced; max_items=1
# is the warm-up (one small page).

def boto3_loop(session, table, max_items=None):
    import pandas as pd

    resource_table = session.resource("dynamodb").Table(table)
    items, kwargs = [], {"Limit": max_items} if max_items else {}
    while True:
        page = resource_table.scan(**kwargs)
        items += page["Items"]
        if max_items or "LastEvaluatedKey" not in page:
            return len(pd.DataFrame(items))
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def wrangler(use_threads: bool) -> Callable:
    def read(session, table, max_items=None):
        import awswrangler as wr

        return len(wr.dynamodb.read_items(table_name=table, allow_full_scan=True,
                                          max_items_evaluated=max_items, use_threads=use_threads,
                                          boto3_session=session))
    return read


def ours(segments: int) -> Callable:
    def read(session, table, max_items=None):
        from xacct_nb import RemoteTable

        remote = RemoteTable(session, table, progress=False)
        return len(remote.scan(allow_full_scan=True, max_items=max_items, segments=segments))
    return read


def ours_arrow(session, table, max_items=None):
    from xacct_nb import RemoteTable

    remote = RemoteTable(session, table, progress=False)
    return remote.to_arrow(allow_full_scan=True, max_items=max_items).num_rows


def floor(session, table, max_items=None):
    import raw_items

    client = session.client("dynamodb")
    kwargs = {"Limit": max_items} if max_items else {}
    count = 0
    for page in raw_items.iter_pages(client, "scan", TableName=table, **kwargs):
        count += len(page["Items"])
        if max_items:
            break
    return count


EXPORT_BUCKET = "bench-export"
EXPORT_FILE_ITEMS = 5_000
_EXPORTS: dict[str, str] = {}  # table → the s3:// URL of its export


def put_export(session, table: str) -> str:
    """The table's items as a full DynamoDB export (AWS's layout) in the sandbox's S3."""
    import base64
    import gzip
    import hashlib

    import raw_items

    items = [item for page in raw_items.iter_pages(session.client("dynamodb"), "scan", TableName=table)
             for item in page["Items"]]
    s3 = session.client("s3")
    s3.create_bucket(Bucket=EXPORT_BUCKET)
    folder = f"exports/AWSDynamoDB/01700000000000-{table}"
    manifest = []
    for number, start in enumerate(range(0, len(items), EXPORT_FILE_ITEMS)):
        part = items[start:start + EXPORT_FILE_ITEMS]
        body = gzip.compress("".join(json.dumps({"Item": i}) + "\n" for i in part).encode())
        key = f"{folder}/data/{number:04d}.json.gz"
        s3.put_object(Bucket=EXPORT_BUCKET, Key=key, Body=body)
        manifest.append(json.dumps({"itemCount": len(part), "dataFileS3Key": key, "md5Checksum":
                                    base64.b64encode(hashlib.md5(body).digest()).decode()}))
    s3.put_object(Bucket=EXPORT_BUCKET, Key=f"{folder}/manifest-files.json",
                  Body=("\n".join(manifest) + "\n").encode())
    s3.put_object(Bucket=EXPORT_BUCKET, Key=f"{folder}/manifest-summary.json", Body=json.dumps({
        "exportArn": f"arn:aws:dynamodb:us-east-1:000000000000:table/{table}/export/bench",
        "exportType": "FULL_EXPORT", "outputFormat": "DYNAMODB_JSON", "itemCount": len(items),
        "manifestFilesS3Key": f"{folder}/manifest-files.json"}).encode())
    return f"s3://{EXPORT_BUCKET}/{folder}/"


def ours_export(session, table, max_items=None):
    """``read_export`` of the table's full export (made on the first call: the warm-up)."""
    from xacct_nb import read_export

    if table not in _EXPORTS:
        _EXPORTS[table] = put_export(session, table)
    return len(read_export(session, _EXPORTS[table]))


WAYS = {
    "boto3 resource scan loop + pd.DataFrame": boto3_loop,
    "awswrangler read_items (default threads)": wrangler(True),
    "awswrangler read_items (use_threads=False)": wrangler(False),
    "ours RemoteTable.scan (1 segment)": ours(1),
    "ours RemoteTable.scan (segments=4)": ours(4),
    "ours RemoteTable.to_arrow (pyarrow.Table)": ours_arrow,
    "floor: raw pages + json.loads": floor,
    "ours read_export (full export, same items)": ours_export,
}
BOTO3, WR_THREADS, WR_SERIAL, OURS, OURS4, OURS_ARROW, FLOOR, OURS_EXPORT = WAYS


def measure(read: Callable, session, table: str, repeat: int) -> dict:
    """Best of `repeat` runs (the least disturbed by other work on the machine)."""
    runs = []
    try:
        read(session, table, 1)  # warm-up: imports, service models, clients
        for _ in range(repeat):
            cpu, wall = time.process_time(), time.perf_counter()
            rows = read(session, table)
            runs.append((time.process_time() - cpu, time.perf_counter() - wall))
    except Exception as err:  # recorded as a failure, with its one-line reason
        line = " ".join(f"{type(err).__name__}: {err}".split())
        return {"status": "FAILED", "error": line[:300]}
    cpu, wall = min(r[0] for r in runs), min(r[1] for r in runs)
    return {"status": "ok", "rows": rows, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "cpu_us_per_item": round(cpu / rows * 1e6, 2) if rows else None,
            "runs": [[round(c, 3), round(w, 3)] for c, w in runs]}


# --- peak memory, in a fresh process ---------------------------------------------------------

def _peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child would inherit its parent's peak
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc/self/status (the memory check needs Linux)")


def memory_child(table: str) -> None:
    """Run in a child: load the table with ours; print peak RSS and the frame's own size."""
    from xacct_nb import RemoteTable

    session = boto3.Session(profile_name="sandbox-main")
    remote = RemoteTable(session, table, progress=False)
    remote.scan(max_items=1)  # imports and client, so the baseline is the steady state
    baseline = _peak_rss_mb()
    df = remote.scan(allow_full_scan=True)
    peak = _peak_rss_mb()
    frame = df.memory_usage(deep=True).sum() / 2**20
    print(json.dumps({"rows": len(df), "baseline_rss_mb": round(baseline, 1),
                      "peak_rss_mb": round(peak, 1), "frame_mb": round(frame, 1)}))


def measure_memory(table: str) -> dict:
    """Judged on the whole process's peak RSS (the literal target), and shown also as the growth
    over the steady state after imports (pandas, pyarrow, boto3 take ~200 MB by themselves)."""
    out = subprocess.run([sys.executable, __file__, "--memory-child", table], check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["load_mb"] = round(result["peak_rss_mb"] - result["baseline_rss_mb"], 1)
    limit = 3 * result["frame_mb"] + MEMORY_FIXED_MB
    result.update(limit_mb=round(limit, 1), ok=result["peak_rss_mb"] <= limit)
    return result


# --- report -----------------------------------------------------------------------------------

def ratios(results: dict) -> dict:
    def ratio(a: str, b: str, key: str = "cpu_us_per_item"):
        if results.get(a, {}).get("status") != "ok" or results.get(b, {}).get("status") != "ok":
            return None
        return round(results[a][key] / results[b][key], 3)

    return {"ours_cpu_vs_boto3": ratio(OURS, BOTO3), "ours_cpu_vs_wrangler": ratio(OURS, WR_SERIAL),
            "ours_cpu_vs_floor": ratio(OURS, FLOOR),
            "ours4_wall_vs_floor_wall": ratio(OURS4, FLOOR, "wall_s"),
            "export_cpu_vs_scan": ratio(OURS_EXPORT, OURS)}


def print_report(items: int, results: dict, rel: dict, memory: dict | None) -> None:
    print(f"\n{items:,} items, client CPU per item (process_time, all threads) and wall time, "
          "best of the runs")
    print(f"{'way':<44} {'µs/item':>9} {'wall s':>8} {'×boto3':>7} {'×wr':>7} {'×floor':>7}")
    base = {k: results.get(k, {}).get("cpu_us_per_item") for k in (BOTO3, WR_SERIAL, FLOOR)}
    for name, r in results.items():
        if r["status"] != "ok":
            print(f"{name:<44} {'FAILED':>9}  {r['error'][:110]}")
            continue
        cols = [f"{r['cpu_us_per_item'] / b:7.2f}" if b else f"{'—':>7}" for b in base.values()]
        print(f"{name:<44} {r['cpu_us_per_item']:9.1f} {r['wall_s']:8.1f} {' '.join(cols)}")
    print("\ntargets:")
    checks = [("ours CPU ≤ 0.40× boto3 loop", rel["ours_cpu_vs_boto3"], TARGETS["vs_boto3"]),
              ("ours CPU ≤ 0.30× awswrangler(use_threads=False)", rel["ours_cpu_vs_wrangler"],
               TARGETS["vs_wrangler"]),
              ("ours CPU ≤ 1.5× floor", rel["ours_cpu_vs_floor"], TARGETS["vs_floor"]),
              ("segments=4 wall ≤ single-segment raw loop", rel["ours4_wall_vs_floor_wall"], 1.0),
              ("read_export CPU/item ≤ 1.0× scan's", rel["export_cpu_vs_scan"],
               TARGETS["export_vs_scan"])]
    for label, value, target in checks:
        verdict = "n/a (a way failed or was not run)" if value is None else ("PASS" if value <= target else "MISS")
        print(f"  {label:<50} {value if value is not None else '—':>7}  {verdict}")
    if memory:
        print(f"  peak memory loading {memory['rows']:,} items: {memory['peak_rss_mb']} MB RSS "
              f"(+{memory['load_mb']} MB over the {memory['baseline_rss_mb']} MB after imports); "
              f"frame {memory['frame_mb']} MB; limit 3×frame+{MEMORY_FIXED_MB} = "
              f"{memory['limit_mb']} MB  {'PASS' if memory['ok'] else 'MISS'}")


def main() -> None:
    # awswrangler warns on every scan it is asked for; the report says what was run
    warnings.filterwarnings("ignore", category=UserWarning, module="awswrangler")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="items in the benchmark table")
    parser.add_argument("--memory-items", type=int, default=None,
                        help="items for the peak-memory check (default: --items; 0 skips it)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="timed runs per way; the best CPU and the best wall time are kept")
    parser.add_argument("--only", metavar="TEXT", default="",
                        help="run only the ways whose name contains TEXT (or one of TEXT,TEXT...)")
    parser.add_argument("--memory-child", metavar="TABLE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child)

    memory_items = args.items if args.memory_items is None else args.memory_items
    with tempfile.TemporaryDirectory(prefix="xacct-bench-") as tmp:
        proc, endpoint = start_sandbox(Path(tmp))
        try:
            os.environ.update(AWS_CONFIG_FILE=f"{tmp}/config",
                              AWS_SHARED_CREDENTIALS_FILE=f"{tmp}/credentials")
            session = boto3.Session(profile_name="sandbox-main")
            t0 = time.perf_counter()
            seed(session, TABLE, args.items)
            print(f"sandbox {endpoint}: seeded {args.items:,} items in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
            results = {}
            for name, read in WAYS.items():
                if args.only and not any(text in name for text in args.only.split(",")):
                    continue
                results[name] = measure(read, session, TABLE, args.repeat)
                print(f"  {name}: {results[name]}", flush=True)
            memory = None
            if memory_items:
                table = TABLE
                if memory_items != args.items:
                    table = f"{TABLE}-memory"
                    seed(session, table, memory_items)
                memory = measure_memory(table)
        finally:
            stop_sandbox(proc)
    rel = ratios(results)
    print_report(args.items, results, rel, memory)
    if args.only:
        print(f"\n--only {args.only!r}: a partial run, {RESULTS} left as it was")
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "items": args.items,
        "repeat": args.repeat,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results, "ratios": rel, "targets": TARGETS, "memory": memory}, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
