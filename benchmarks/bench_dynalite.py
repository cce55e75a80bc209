"""Reading a whole table where the server is fast: dynalite, so the client is the bottleneck.

    .venv/bin/python benchmarks/bench_dynalite.py --repeat 5 --memory-items 100000   # ~4 min

dynalite (``make dynalite``; an independent DynamoDB implementation on Node, in-memory, no IAM)
runs in its own process; the table holds the same 20,000 mixed-type ``orders`` items as
bench_read.py (~400 bytes: strings, decimals of varying precision, numbers past 2**63, sets,
binary, maps, lists of maps, NULL, missing attributes). Ways, each reading the whole table once
per round after a one-page warm-up, best of ``--repeat`` rounds for CPU and for wall time (each
round runs every way once, so a slow spell of the machine hits every way alike; the raw fetch
runs just before ``scan``, and their wall ratio within each round is printed too):

1. boto3 resource ``Table.scan`` loop + ``pd.DataFrame``
2. awswrangler ``read_items`` (default threads), 3. ``use_threads=False``
4. ``RemoteTable.scan`` (the default path: raw bodies → ``pyarrow.json`` → typed column chunks
   page by page while the next page downloads → one frame)
5. ``RemoteTable.to_arrow`` (the typed table) then ``arrow_to_pandas`` (default dtypes; the
   test oracle in tests/arrow_oracle.py),
   6. ``to_arrow`` only
7. floor: raw pages + ``json.loads`` (no frame), 8. raw bodies fetched, nothing decoded; both
   send exactly the request ``scan`` sends (captured from botocore's event, see ``scan_request``)

Targets (printed as pass/miss, never asserted): ``scan``'s client CPU ≤ 1.0× the ``json.loads``
floor of the same run; its wall time ≤ 1.15× the raw fetch and ≥ 3× faster than the boto3 loop
and awswrangler; peak memory loading ``--memory-items`` with ``to_arrow`` ≤ 2× the table's
size + 200 MB (fresh child process, VmHWM); ``scan``'s frame equals the typed table's pandas
conversion exactly (two independent conversions of the same pages).
Without node or dynalite it prints why and exits 0. Results: benchmarks/results/dynalite.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import boto3
from bench_read import _peak_rss_mb, boto3_loop, seed, wrangler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # dynalite_server, shared with the tests
RESULTS = Path(__file__).parent / "results" / "dynalite.json"
TABLE = "bench"
MEMORY_FIXED_MB = 200
TARGETS = {"cpu_vs_floor": 1.0, "wall_vs_raw_fetch": 1.15, "speedup_vs_boto3": 3.0,
           "speedup_vs_wrangler": 3.0}


# --- the ways (session, table, max_items) → rows; max_items=1 is the one-page warm-up -----------

def remote_table(session, table, max_items=None):
    from xacct_nb import RemoteTable

    remote = RemoteTable(session, table, progress=False)
    return len(remote.scan(allow_full_scan=True, max_items=max_items))


def arrow_table(session, table, max_items=None):
    """``RemoteTable.to_arrow``: raw bodies parsed by Arrow on the fetching thread."""
    from xacct_nb import RemoteTable

    remote = RemoteTable(session, table, progress=False)
    return remote.to_arrow(allow_full_scan=True, max_items=max_items)


def arrow_frame(session, table, max_items=None):
    """The same, then `arrow_to_pandas` with the default dtypes: the typed table's independent
    converter, kept as a test oracle (tests/arrow_oracle.py), not part of the package."""
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    from arrow_oracle import arrow_to_pandas

    return arrow_to_pandas(arrow_table(session, table, max_items))


def sent_scans(session, read: Callable[[], object]) -> list[dict]:
    """Every Scan request botocore is handed while ``read()`` runs on clients of ``session``
    made after this call starts (a client copies the session's event handlers when created)."""
    sent: list[dict] = []

    def capture(params, **_):
        sent.append(dict(params))

    event = "provide-client-params.dynamodb.Scan"
    session.events.register(event, capture)
    try:
        read()
    finally:
        session.events.unregister(event, capture)
    return sent


@functools.cache
def scan_request(session, table) -> dict:
    """The Scan request ``RemoteTable.scan`` sends, without its ``Limit``: the floor and the raw
    fetch send exactly this, so that all three ask the server for the same pages.
    ``ReturnConsumedCapacity`` is part of it (the read's budgets and stats need it), and it
    costs dynalite ~10 ms a 7,000-item page: a raw fetch without it was ~10% faster than the
    server's time for scan's own requests."""
    from xacct_nb import RemoteTable

    sent = sent_scans(session, lambda: RemoteTable(session, table, progress=False)
                      .scan(allow_full_scan=True, max_items=1))
    request = dict(sent[0])
    request.pop("Limit", None)
    return request


def _request(session, table, max_items) -> dict:
    """A fresh copy of scan's request (once per table: the first call scans one item)."""
    return {**scan_request(session, table), **({"Limit": max_items} if max_items else {})}


def floor(session, table, max_items=None):
    import raw_items

    client = session.client("dynamodb")
    count = 0
    request = _request(session, table, max_items)
    for page in raw_items.iter_pages(client, "scan", **request):
        count += len(page["Items"])
        if max_items:
            break
    return count


def raw_fetch(session, table, max_items=None):
    """Bodies fetched and dropped: only the small LastEvaluatedKey is decoded, to go on."""
    from xacct_nb.dynamo import rawpages

    client = session.client("dynamodb")
    request = _request(session, table, max_items)
    pages = 0
    decoder = json.JSONDecoder()
    while True:
        body = rawpages.page_body(client, "scan", **request).decode()
        pages += 1
        at = body.rfind('"LastEvaluatedKey":')
        if max_items or at < 0:
            return pages  # pages, not rows: the wall time is what counts for this way
        # json's own whitespace skip: moto writes '": {', dynalite '":{'
        start = json.decoder.WHITESPACE.match(body, at + len('"LastEvaluatedKey":')).end()
        key, _ = decoder.raw_decode(body, start)
        request["ExclusiveStartKey"] = key


def rows(read: Callable) -> Callable:
    def count(session, table, max_items=None):
        return len(read(session, table, max_items))
    return count


BOTO3 = "boto3 resource scan loop + pd.DataFrame"
WR_THREADS = "awswrangler read_items (default threads)"
WR_SERIAL = "awswrangler read_items (use_threads=False)"
SCAN = "RemoteTable.scan (Arrow, page by page)"
ARROW = "RemoteTable.to_arrow → arrow_to_pandas"
ARROW_TABLE = "RemoteTable.to_arrow (pyarrow.Table)"
FLOOR = "floor: raw pages + json.loads"
RAW = "raw bodies fetched, nothing decoded"
# In this order in every round: the raw fetch runs just before scan, so the two ways the wall
# target compares meet the server in the same state.
WAYS = {BOTO3: boto3_loop, WR_THREADS: wrangler(True), WR_SERIAL: wrangler(False),
        RAW: raw_fetch, SCAN: remote_table, ARROW: rows(arrow_frame),
        ARROW_TABLE: rows(arrow_table), FLOOR: floor}


def measure_interleaved(session, table: str, repeat: int) -> dict:
    """Best of `repeat` rounds, each round running every way once, so that a slow spell of the
    shared machine (or of the server) hits all ways alike: the wall-time targets are ratios.
    A way that raises is recorded as FAILED with its error line, never as zero."""
    failed: dict[str, dict] = {}
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in WAYS}
    for name, read in WAYS.items():
        _attempt(failed, name, functools.partial(read, session, table, 1))  # warm-up: imports, clients
    for _ in range(repeat):
        for name, read in WAYS.items():
            if name in failed:
                continue
            cpu, wall = time.process_time(), time.perf_counter()
            rows = _attempt(failed, name, functools.partial(read, session, table))
            runs[name].append((time.process_time() - cpu, time.perf_counter() - wall, rows))
    results = {}
    for name, timings in runs.items():
        if name in failed:
            results[name] = failed[name]
            continue
        cpu, wall = min(t[0] for t in timings), min(t[1] for t in timings)
        results[name] = {"status": "ok", "rows": timings[-1][2], "cpu_s": round(cpu, 3),
                         "wall_s": round(wall, 3),
                         "runs": [[round(c, 3), round(w, 3)] for c, w, _ in timings]}
        print(f"  {name}: {results[name]}", flush=True)
    return results


def _attempt(failed: dict[str, dict], name: str, run: Callable[[], int]) -> int:
    try:
        return run()
    except Exception as err:  # recorded as a failure, with its one-line reason
        line = " ".join(f"{type(err).__name__}: {err}".split())
        failed[name] = {"status": "FAILED", "error": line[:300]}
        print(f"  {name}: FAILED {line[:200]}", flush=True)
        return 0


# --- fidelity and memory ----------------------------------------------------------------------

def fidelity(session, table) -> str:
    """scan's frame equals the typed table's pandas conversion, value for value and dtype for
    dtype: two independent conversions of the same pages (tag structs column-wise, typed table)."""
    import pandas as pd

    from xacct_nb import RemoteTable

    scanned = RemoteTable(session, table, progress=False).scan(allow_full_scan=True)
    scanned.attrs = {}
    arrow = arrow_frame(session, table)
    try:
        pd.testing.assert_frame_equal(scanned, arrow)
    except AssertionError as err:
        return "MISMATCH: " + " ".join(str(err).split())[:200]
    return f"exact ({len(arrow):,} rows × {len(arrow.columns)} columns)"


def memory_child(table: str) -> None:
    """In a fresh process: load the table with the Arrow path; peak RSS and the table's size."""
    session = _session()
    arrow_table(session, table, 1)  # imports and client first: the baseline is steady state
    baseline = _peak_rss_mb()
    loaded = arrow_table(session, table)
    peak = _peak_rss_mb()
    print(json.dumps({"rows": loaded.num_rows, "baseline_rss_mb": round(baseline, 1),
                      "peak_rss_mb": round(peak, 1),
                      "table_mb": round(loaded.nbytes / 2**20, 1)}))


def measure_memory(table: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--memory-child", table], check=True,
                         capture_output=True, text=True, env=os.environ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    limit = 2 * result["table_mb"] + MEMORY_FIXED_MB
    result.update(load_mb=round(result["peak_rss_mb"] - result["baseline_rss_mb"], 1),
                  limit_mb=round(limit, 1), ok=result["peak_rss_mb"] <= limit)
    return result


# --- report -----------------------------------------------------------------------------------

def checks(results: dict) -> list[tuple[str, float | None, float, bool]]:
    """(label, measured ratio, target, lower is better) for each target."""
    def ratio(a: str, b: str, key: str) -> float | None:
        if results[a]["status"] != "ok" or results[b]["status"] != "ok":
            return None
        return round(results[a][key] / results[b][key], 3)

    return [
        ("scan CPU ≤ 1.0× json.loads floor", ratio(SCAN, FLOOR, "cpu_s"),
         TARGETS["cpu_vs_floor"], True),
        ("scan wall ≤ 1.15× raw fetch wall", ratio(SCAN, RAW, "wall_s"),
         TARGETS["wall_vs_raw_fetch"], True),
        ("boto3 loop wall ÷ scan wall ≥ 3", ratio(BOTO3, SCAN, "wall_s"),
         TARGETS["speedup_vs_boto3"], False),
        ("awswrangler wall ÷ scan wall ≥ 3 (faster of the two)",
         _faster_wrangler(results), TARGETS["speedup_vs_wrangler"], False),
    ]


def same_round_ratios(results: dict, way: str, baseline: str) -> list[float]:
    """``way``'s wall time over ``baseline``'s in each round (raw fetch runs just before scan)."""
    if results[way]["status"] != "ok" or results[baseline]["status"] != "ok":
        return []
    return [round(a[1] / b[1], 3) for a, b in zip(results[way]["runs"], results[baseline]["runs"])]


def _faster_wrangler(results: dict) -> float | None:
    walls = [results[w]["wall_s"] for w in (WR_THREADS, WR_SERIAL) if results[w]["status"] == "ok"]
    if not walls or results[SCAN]["status"] != "ok":
        return None
    return round(min(walls) / results[SCAN]["wall_s"], 3)


def print_report(items: int, results: dict, memory: dict | None, exact: str) -> None:
    print(f"\ndynalite, {items:,} items: client CPU per item (process_time, all threads) and "
          "wall time, best of the runs")
    print(f"{'way':<48} {'CPU µs/item':>11} {'wall s':>8} {'wall range':>11} {'× floor CPU':>11}")
    floor_cpu = results[FLOOR].get("cpu_s")
    for name, r in results.items():
        if r["status"] != "ok":
            print(f"{name:<48} {'FAILED':>11}  {r['error'][:100]}")
            continue
        per_item = r["cpu_s"] / items * 1e6
        versus = f"{r['cpu_s'] / floor_cpu:11.2f}" if floor_cpu else f"{'—':>11}"
        walls = [w for _, w in r["runs"]]
        spread = f"{min(walls):.2f}–{max(walls):.2f}"
        print(f"{name:<48} {per_item:11.1f} {r['wall_s']:8.2f} {spread:>11} {versus}")
    print("\ntargets:")
    for label, value, target, lower in checks(results):
        verdict = "n/a (a way failed)" if value is None else (
            "PASS" if (value <= target if lower else value >= target) else "MISS")
        print(f"  {label:<60} {value if value is not None else '—':>7}  {verdict}")
    paired = same_round_ratios(results, SCAN, RAW)
    if paired:
        print(f"  (scan wall ÷ raw fetch wall within each round: median {statistics.median(paired):.2f}, "
              f"{min(paired):.2f}–{max(paired):.2f}; the server's own pace varies between rounds)")
    if memory:
        print(f"  peak memory loading {memory['rows']:,} items (to_arrow → table): "
              f"{memory['peak_rss_mb']} MB RSS (+{memory['load_mb']} MB over "
              f"{memory['baseline_rss_mb']} MB after imports); table {memory['table_mb']} MB; "
              f"limit 2×table+{MEMORY_FIXED_MB} = {memory['limit_mb']} MB  "
              f"{'PASS' if memory['ok'] else 'MISS'}")
    print(f"  fidelity: scan's frame vs the typed table's: {exact}  "
          f"{'PASS' if exact.startswith('exact') else 'MISS'}")


def _session() -> boto3.Session:
    # dynalite has no IAM: any key works. The endpoint comes from AWS_ENDPOINT_URL (set below).
    return boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                         region_name="us-east-1")


def main() -> None:
    warnings.filterwarnings("ignore", category=UserWarning, module="awswrangler")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--memory-items", type=int, default=None,
                        help="items for the peak-memory check (default: --items; 0 skips it)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best is kept")
    parser.add_argument("--memory-child", metavar="TABLE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child)

    from dynalite_server import Dynalite, unavailable_reason

    reason = unavailable_reason()
    if reason:
        print(f"dynalite benchmark skipped: {reason}")
        return
    memory_items = args.items if args.memory_items is None else args.memory_items
    with Dynalite() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        session = _session()
        started = time.perf_counter()
        seed(session, TABLE, args.items)
        print(f"dynalite {endpoint}: seeded {args.items:,} items in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        results = measure_interleaved(session, TABLE, args.repeat)
        exact = fidelity(session, TABLE)
        memory = None
        if memory_items:
            table = TABLE
            if memory_items != args.items:
                table = f"{TABLE}-memory"
                seed(session, table, memory_items)
            memory = measure_memory(table)
    print_report(args.items, results, memory, exact)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "items": args.items,
        "repeat": args.repeat, "cpus": os.cpu_count(), "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": results,
        "checks": [list(c) for c in checks(results)], "targets": TARGETS, "memory": memory,
        "scan_over_raw_fetch_per_round": same_round_ratios(results, SCAN, RAW),
        "fidelity": exact}, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
