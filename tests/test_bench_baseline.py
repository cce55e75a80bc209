"""The dynalite benchmark's baselines ask the server for exactly what ``RemoteTable.scan`` asks.

The wall target compares ``scan`` with a raw fetch of "the same pages": if the two sent
different requests (``ReturnConsumedCapacity`` costs dynalite ~10 ms a page), the ratio would
measure the request, not the client. Checked on the sandbox (moto over HTTP, a profile
session): every Scan request of a multi-page read, as botocore was handed it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from xacct_nb import RemoteTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = pytest.importorskip("bench_dynalite", reason="needs the bench extras (pip install -e .[bench])")

TABLE = "bench-baseline"


@pytest.fixture(scope="module")
def session(sandbox):
    session = sandbox.session("sandbox-main")
    client = session.client("dynamodb")
    client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    # ~3 pages of 1 MB: the requests after the first carry ExclusiveStartKey
    for i in range(25):
        client.put_item(TableName=TABLE, Item={"pk": {"S": f"k{i:03}"}, "pad": {"S": "x" * 120_000}})
    try:
        yield session
    finally:
        client.delete_table(TableName=TABLE)


def test_raw_fetch_and_floor_send_the_requests_scan_sends(session):
    bench.scan_request(session, TABLE)  # captured once per table, by a one-item scan
    scan = bench.sent_scans(session, lambda: RemoteTable(session, TABLE, progress=False)
                               .scan(allow_full_scan=True))
    raw = bench.sent_scans(session, lambda: bench.raw_fetch(session, TABLE))
    floor = bench.sent_scans(session, lambda: bench.floor(session, TABLE))
    assert len(scan) >= 3, "the table should span several pages"
    assert scan[0]["ReturnConsumedCapacity"] == "TOTAL"
    assert raw == scan
    assert floor == scan
