"""A whole table by ``RemoteTable.to_dask`` on a 2-worker LocalCluster vs one-process ``scan``.

    .venv/bin/python benchmarks/bench_dask.py --items 100000 --repeat 2     # make bench-dask

Against dynalite (``make dynalite``; fast, in its own process, no IAM), so the client side is
what is measured, not moto. The table holds bench_read.py's mixed-type ``orders`` items. Ways,
best of ``--repeat`` rounds (each round runs both ways once):

1. ``RemoteTable.scan(allow_full_scan=True, segments=S)`` in this process
2. ``RemoteTable.to_dask(segments=S).compute()`` on ``LocalCluster(n_workers=2, processes=True,
   threads_per_worker=1)``, started once before the rounds (its start-up is printed apart): the
   partitions are pickled and sent to this process, and concatenated
3. the same read with the partitions kept on the workers (``map_partitions(len)``): what a
   pipeline that reduces or writes on the workers pays

CPU is ``time.process_time()`` of this process plus, for Dask, of both worker processes
(``client.run``); the scheduler's own CPU is not counted. Workers get the credentials as
:class:`~xacct_nb.dynamo.distributed.FrozenCredentials` (dynalite accepts any key) and reach
dynalite through ``AWS_ENDPOINT_URL``, which they inherit. Printed as ratios Dask ÷ scan.
Without node or dynalite it prints why and exits 0. Results: benchmarks/results/dask.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import boto3
from bench_read import seed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # dynalite_server, shared with the tests
RESULTS = Path(__file__).parent / "results" / "dask.json"
TABLE = "bench-dask"


def _session() -> boto3.Session:
    # dynalite has no IAM: any key works. The endpoint comes from AWS_ENDPOINT_URL (set below).
    return boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                         region_name="us-east-1")


def worker_cpu(client) -> float:
    return sum(client.run(time.process_time).values())


def one_process(session, segments: int) -> tuple[float, float, int]:
    from xacct_nb import RemoteTable

    cpu, wall = time.process_time(), time.perf_counter()
    df = RemoteTable(session, TABLE, progress=False).scan(allow_full_scan=True, segments=segments)
    return time.process_time() - cpu, time.perf_counter() - wall, len(df)


def on_dask(session, client, segments: int, *, gather: bool) -> tuple[float, float, int]:
    from xacct_nb import RemoteTable
    from xacct_nb.dynamo.distributed import FrozenCredentials

    keys = FrozenCredentials(access_key="bench", secret_key="bench", token=None, expires=None,
                             region="us-east-1", endpoint_url=None)
    cpu, workers, wall = time.process_time(), worker_cpu(client), time.perf_counter()
    ddf = RemoteTable(session, TABLE, progress=False).to_dask(segments=segments, credentials=keys)
    rows = len(ddf.compute()) if gather else int(ddf.map_partitions(len).compute().sum())
    elapsed = time.perf_counter() - wall
    return time.process_time() - cpu + worker_cpu(client) - workers, elapsed, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the best is kept")
    args = parser.parse_args()

    from dynalite_server import Dynalite, unavailable_reason

    reason = unavailable_reason()
    if reason:
        print(f"dask benchmark skipped: {reason}")
        return
    from distributed import Client, LocalCluster

    with Dynalite() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint  # before the cluster: its workers inherit it
        session = _session()
        started = time.perf_counter()
        seed(session, TABLE, args.items)
        print(f"dynalite {endpoint}: seeded {args.items:,} items in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            startup = time.perf_counter() - started
            runs: dict[str, list[tuple[float, float, int]]] = {"scan": [], "dask": [], "dask-kept": []}
            for _ in range(args.repeat):
                runs["scan"].append(one_process(session, args.segments))
                runs["dask"].append(on_dask(session, client, args.segments, gather=True))
                runs["dask-kept"].append(on_dask(session, client, args.segments, gather=False))
                print("  round (cpu s, wall s): " + ", ".join(
                    f"{way} {rs[-1][0]:.2f} {rs[-1][1]:.2f}" for way, rs in runs.items()), flush=True)
    best = {way: {"cpu_s": round(min(r[0] for r in rs), 3), "wall_s": round(min(r[1] for r in rs), 3),
                  "rows": rs[-1][2]} for way, rs in runs.items()}
    ratios = {f"{key}_{way}_over_scan": round(best[way][f"{key}_s"] / best["scan"][f"{key}_s"], 3)
              for way in ("dask", "dask-kept") for key in ("cpu", "wall")}
    print(f"\ndynalite, {args.items:,} items, {args.segments} segments, best of {args.repeat}:")
    for way, r in best.items():
        versus = "" if way == "scan" else (f"  ÷ scan: CPU {ratios[f'cpu_{way}_over_scan']}×, "
                                           f"wall {ratios[f'wall_{way}_over_scan']}×")
        print(f"  {way:<9} CPU {r['cpu_s']:7.2f} s ({r['cpu_s'] / args.items * 1e6:5.1f} µs/item)  "
              f"wall {r['wall_s']:6.2f} s  rows {r['rows']:,}{versus}")
    print(f"  (LocalCluster start-up {startup:.1f} s, not counted)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "items": args.items,
        "segments": args.segments, "repeat": args.repeat, "cpus": os.cpu_count(),
        "python": platform.python_version(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "best": best, "ratios": ratios, "cluster_startup_s": round(startup, 1),
        "runs": {w: [[round(c, 3), round(t, 3)] for c, t, _ in rs] for w, rs in runs.items()}}, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
