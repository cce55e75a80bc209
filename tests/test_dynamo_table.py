"""xacct_nb.dynamo (RemoteTable) against the sandbox: real HTTP, IAM enforced, nothing stubbed or mocked.

The module fixture builds its own world, independent of the provisioning code: a table in MAIN
seeded with every DynamoDB type and edge case, a read-only role named the way a spec names it
(so the CLI can assume it from a params file), a role that lacks the table's indexes, and a
consumer user (with its own profile in a COPY of the sandbox's config files) allowed to assume
both. Tables stay small: moto spends about 1 ms of server time per scanned item.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from decimal import Decimal
from types import SimpleNamespace

import boto3
import botocore.endpoint
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from helpers import CONSUMER, MAIN, allow, consumer_world, doc, read_params, role_arn, trust
from xacct_nb import ProgressEvent, RemoteTable, describe_all
from xacct_nb.cli import main as cli_main
from xacct_nb.dynamo import table as table_module
from xacct_nb.dynamo import writers as export
from xacct_nb.dynamo.parquet import read_stats, write_parquet
from xacct_nb.dynamo.reader import QUIET_ENV, auto_progress
from xacct_nb.errors import AccessDenied, AwsError, CredentialsExpired, InputError
from xacct_nb.policies import READ_ACTIONS
from xacct_nb.sessions import assume
from xacct_nb.spec import role_name

TABLE = "tabletest-fidelity"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{MAIN}:table/{TABLE}"
PROFILE = "tabletest-user"
ENV = "tabletest"  # the reader role is the one a spec with env "tabletest" names
NO_INDEX_ROLE = "tabletest-noindex"
N_ITEMS = 240
KEYS = ["pk", "sk"]
PRECISE = "123456789.123456789"  # 18 significant digits: no float holds it


def fidelity_item(i: int) -> dict:
    """Item i in wire format; every type and edge case appears, most attributes only sometimes."""
    item = {
        "pk": {"S": f"P{i % 8}"},
        "sk": {"N": str(i)},
        "status": {"S": ("PENDING", "SHIPPED", "DELIVERED")[i % 3]},  # reserved word, GSI key
        "date": {"S": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"},  # reserved word, GSI sort key
        "name": {"S": ("Olena", "João", "東京", "", "Zoë 🚀")[i % 5]},  # reserved; "" is legal
        # two decimals on the first pages, three later: the awswrangler merge failure
        "amount": {"N": f"{i}.5" if i < N_ITEMS // 2 else f"{i}.125"},
        "flag": {"BOOL": i % 2 == 0},
        "doc": {"M": {"city": {"S": ("Kyiv", "Zürich")[i % 2]}, "n": {"N": str(i)},
                      "none": {"NULL": True}, "deep": {"L": [{"N": "1.5"}, {"S": "x"},
                                                            {"M": {"ok": {"BOOL": True}}}]}}},
    }
    if i % 4:
        item["qty"] = {"N": str(i * 3)}  # integers with gaps → Int64
    if i % 10 == 0:
        item["big"] = {"N": str((2**63 + 5, 10**30, -(2**64))[i // 10 % 3])}
    if i % 10 == 5:
        item["precise"] = {"N": ("0.1", PRECISE)[i // 10 % 2]}
    if i % 6 == 0:
        item["tags"] = {"SS": sorted({"gift", "vip", f"t{i % 4}"})}
        item["lucky"] = {"NS": ["7", "3.25", str(10**25 + i)]}
        item["blobs"] = {"BS": [b"\x00\x01", bytes([255, i % 256])]}
    if i % 7 == 0:
        item["raw"] = {"B": bytes([0, 255, 128, i % 256])}  # the client's input takes bytes
    if i % 9 == 0:
        item["note"] = {"NULL": True}
    if i % 11 == 0:
        item["mixed"] = {"S": "eleven"} if i % 22 else {"N": "22"}  # one column, two types
    return item


ITEMS = [fidelity_item(i) for i in range(N_ITEMS)]


@pytest.fixture(scope="module")
def world(sandbox, tmp_path_factory):
    main = sandbox.session("sandbox-main")
    ddb = main.client("dynamodb")
    ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in
                              (("pk", "S"), ("sk", "N"), ("status", "S"), ("date", "S"))],
        GlobalSecondaryIndexes=[{"IndexName": "by_status", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                                               {"AttributeName": "date", "KeyType": "RANGE"}]}])
    for start in range(0, N_ITEMS, 25):
        ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": it}}
                                                   for it in ITEMS[start:start + 25]]})
    root = trust(f"arn:aws:iam::{CONSUMER}:root")
    reader = role_name(ENV, CONSUMER)
    roles = {reader: (root, doc(allow(list(READ_ACTIONS), [TABLE_ARN, f"{TABLE_ARN}/index/*"]))),
             NO_INDEX_ROLE: (root, doc(allow(list(READ_ACTIONS), [TABLE_ARN])))}
    with consumer_world(sandbox, tmp_path_factory.mktemp("aws"), user=PROFILE, roles=roles,
                        assume=[role_arn(n) for n in roles], env={QUIET_ENV: "1"}) as w:
        yield SimpleNamespace(reader=assume(PROFILE, role_arn(reader)),
                              no_index=assume(PROFILE, role_arn(NO_INDEX_ROLE)),
                              admin=main, files=w.files, env=dict(os.environ))
    ddb.delete_table(TableName=TABLE)


@pytest.fixture(scope="module")
def table(world) -> RemoteTable:
    return RemoteTable(world.reader, TABLE)


@pytest.fixture(scope="module")
def full(table) -> pd.DataFrame:
    """The whole table in one read: the reference the other reads are compared with."""
    return table.scan()


def _by_key(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by key, columns by name: page order decides both, and may differ between reads."""
    return df.sort_values(KEYS).reset_index(drop=True).sort_index(axis=1)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Values only: dtypes differ when a partial read saw fewer kinds of value (e.g. a column
    that is all-int in the first 25 rows but mixed in the whole table)."""
    df = _by_key(df).astype(object)
    return df.where(df.notna(), None)


def _rows(df: pd.DataFrame) -> dict[tuple, pd.Series]:
    return {(row.pk, int(row.sk)): row for _, row in df.iterrows()}


# --- an independent check of one value against what was written --------------------------------

def _is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _number_matches(actual, text: str) -> bool:
    if isinstance(actual, bool) or _is_missing(actual):
        return False
    if isinstance(actual, float):  # a float column: the printed float must be the written number
        return Decimal(repr(actual)) == Decimal(text)
    return Decimal(str(actual)) == Decimal(text)  # int (any size), numpy int, Decimal: exact


def _matches(actual, wire: dict) -> bool:
    ((tag, value),) = wire.items()
    if tag == "NULL":
        return _is_missing(actual)
    if tag == "S":
        return type(actual) is str and actual == value
    if tag == "BOOL":
        return bool(actual) is value
    if tag == "N":
        return _number_matches(actual, value)
    if tag == "B":
        return actual == value
    if tag in ("SS", "BS"):
        return actual == set(value)
    if tag == "NS":
        return {Decimal(str(v)) for v in actual} == {Decimal(v) for v in value}
    if tag == "M":
        return set(actual) == set(value) and all(_matches(actual[k], v) for k, v in value.items())
    return len(actual) == len(value) and all(_matches(a, v) for a, v in zip(actual, value))


# --- describe -----------------------------------------------------------------------------------

def test_describe(table):
    info = table.describe()
    assert (info.partition_key, info.sort_key) == ("pk", "sk")
    assert (info.key.partition_type, info.key.sort_type) == ("S", "N")
    gsi = info.index("by_status")
    assert (gsi.kind, gsi.key.partition_key, gsi.key.sort_key) == ("GSI", "status", "date")
    assert info.item_count == N_ITEMS and info.account == MAIN and info.index_names == ("by_status",)
    assert info.billing_mode == "PAY_PER_REQUEST" and info.stream is None
    frame = info.frame()
    assert list(frame.index) == ["(table)", "by_status"]
    assert frame.loc["by_status", "partition_key"] == "status (S)"
    assert TABLE in table._repr_html_() and table.describe() is info  # cached


def test_describe_all(world):
    overview = describe_all(world.reader, [TABLE, "tabletest-nope"])
    assert overview.loc[TABLE, "indexes"] == "by_status (GSI)" and overview.loc[TABLE, "error"] == ""
    assert overview.loc[TABLE, "items"] == N_ITEMS
    assert "access denied" in overview.loc["tabletest-nope", "error"]


# --- fidelity -----------------------------------------------------------------------------------

def test_round_trip_fidelity(full):
    assert len(full) == N_ITEMS
    union = set().union(*ITEMS)
    assert set(full.columns) == union and list(full.columns[:2]) == KEYS
    rows = _rows(full)
    for item in ITEMS:
        row = rows[(item["pk"]["S"], int(item["sk"]["N"]))]
        for column in union:
            wire = item.get(column, {"NULL": True})  # absent → missing, like NULL
            assert _matches(row[column], wire), (item["sk"], column, row[column], wire)


def test_types_are_the_documented_ones(full):
    assert str(full["qty"].dtype) == "Int64" and full["qty"].isna().sum() == N_ITEMS // 4
    assert full["amount"].dtype == "float64"  # 2 and 3 decimals across pages: one float column
    assert str(full["flag"].dtype) == "boolean"
    assert full["big"].dtype == object
    rows = _rows(full)
    assert rows[("P0", 0)]["big"] == 2**63 + 5 and type(rows[("P0", 0)]["big"]) is int
    assert rows[("P2", 10)]["big"] == 10**30 and rows[("P4", 20)]["big"] == -(2**64)
    assert rows[("P7", 15)]["precise"] == Decimal(PRECISE)  # never rounded through a float
    assert rows[("P5", 5)]["precise"] == Decimal("0.1")
    assert rows[("P3", 3)]["name"] == "" and rows[("P4", 4)]["name"] == "Zoë 🚀"
    assert rows[("P3", 11)]["mixed"] == "eleven" and rows[("P6", 22)]["mixed"] == 22


def test_numbers_decimal_and_sets_list(table):
    df = table.scan(numbers="decimal", sets="list", max_items=12)
    row = _rows(df)[("P0", 0)]
    assert row["amount"] == Decimal("0.5") and isinstance(row["amount"], Decimal)
    assert row["tags"] == sorted(row["tags"]) and isinstance(row["tags"], list)


def test_flatten_maps(table):
    df = table.scan(flatten_maps=True, max_items=5)
    assert {"doc.city", "doc.n", "doc.deep"} <= set(df.columns) and "doc" not in df.columns


# --- pages, segments, iteration -------------------------------------------------------------

def test_multi_page_scan_equals_single_read(table, full):
    paged = table.scan(page_size=17)
    meta = paged.attrs["xacct"]
    assert meta["pages"] == -(-N_ITEMS // 17) + (N_ITEMS % 17 == 0)
    assert meta["partial"] is False and meta["last_evaluated_key"] is None
    pd.testing.assert_frame_equal(_by_key(paged), _by_key(full))


def test_parallel_scan_equals_single_segment(table, full):
    parallel = table.scan(segments=4, page_size=25)
    assert parallel.attrs["xacct"]["segments"] == 4 and parallel.attrs["xacct"]["pages"] >= 4
    pd.testing.assert_frame_equal(_by_key(parallel), _by_key(full))


def test_iter_pages(table):
    frames = list(table.iter_pages("scan", page_size=50, projection=["status"]))
    assert [len(f) for f in frames] == [50, 50, 50, 50, 40]
    assert frames[-1].attrs["xacct"]["items"] == N_ITEMS
    assert list(frames[0].columns) == ["pk", "sk", "status"]  # keys are always projected
    pages = list(table.iter_pages("query", "P1", sort=(">=", 100)))
    assert sorted(pages[0]["sk"]) == [i for i in range(100, N_ITEMS) if i % 8 == 1]


def test_progress(world, table, monkeypatch):
    seen: list[ProgressEvent] = []
    df = RemoteTable(world.reader, TABLE, progress=seen.append).scan(page_size=100)
    assert [s.stats["items"] for s in seen] == [100, 200, N_ITEMS] and df.attrs["xacct"]["pages"] == 3
    assert seen[-1] == f"scan {TABLE}: 3 pages, {N_ITEMS} items, {seen[-1].stats['consumed_rcu']:g} RCU, " \
                       f"{seen[-1].stats['seconds']:.1f} s"  # the line a person reads
    assert len(RemoteTable(world.reader, TABLE, progress=True).scan(page_size=100)) == N_ITEMS
    monkeypatch.setenv(QUIET_ENV, "1")
    assert auto_progress() is False


# --- query ----------------------------------------------------------------------------------

SORT_CASES = [(("=", 9), lambda s: s == 9), (("<", 40), lambda s: s < 40),
              (("<=", 41), lambda s: s <= 41), ((">", 200), lambda s: s > 200),
              ((">=", 201), lambda s: s >= 201), (("between", 17, 65), lambda s: 17 <= s <= 65),
              (9, lambda s: s == 9), (("=", "9"), lambda s: s == 9)]  # numeric text for an N key


@pytest.mark.parametrize("sort,keep", SORT_CASES, ids=[repr(c[0]) for c in SORT_CASES])
def test_query_sort_conditions(table, sort, keep):
    df = table.query("P1", sort=sort)
    assert sorted(df["sk"]) == [i for i in range(N_ITEMS) if i % 8 == 1 and keep(i)]


def test_query_descending_and_named_partition(table):
    df = table.query({"pk": "P2"}, descending=True, page_size=4)
    assert list(df["sk"]) == sorted((i for i in range(N_ITEMS) if i % 8 == 2), reverse=True)
    assert df.attrs["xacct"]["pages"] > 1


def test_query_gsi(table, full):
    df = table.query("SHIPPED", index="by_status", sort=("begins_with", "2026-02"))
    expected = full[(full["status"] == "SHIPPED") & full["date"].str.startswith("2026-02")]
    assert sorted(df["sk"]) == sorted(expected["sk"]) and len(df) > 0
    assert list(df.columns[:4]) == ["status", "date", "pk", "sk"]
    between = table.query("PENDING", index="by_status", sort=("between", "2026-02", "2026-05"))
    assert set(between["date"].str[:7]) <= {"2026-02", "2026-03", "2026-04"}


# --- filters and projections ------------------------------------------------------------------

def test_reserved_words_in_filter_and_projection(table, full):
    df = table.scan(filter={"status": "SHIPPED", "name": ("begins_with", "Jo"),
                            ("doc", "city"): "Zürich", "qty": ("exists",)},
                    projection=["name", "status", "date", ("doc", "city")])
    expected = full[(full["status"] == "SHIPPED") & (full["name"] == "João")
                    & full["qty"].notna() & full["doc"].map(lambda d: d["city"] == "Zürich")]
    assert sorted(df["sk"]) == sorted(expected["sk"]) and len(df) > 0
    assert set(df.columns) == {"pk", "sk", "name", "status", "date", "doc"}
    assert all(d == {"city": "Zürich"} for d in df["doc"])


def test_filter_operators(table):
    df = table.scan(filter={"amount": ("between", 10, 40.5), "tags": ("contains", "vip"),
                            "note": ("not_exists",), "sk": ("<>", 12)})
    # written data, not the frame: a NULL attribute exists for DynamoDB but is NA in a frame
    assert sorted(df["sk"]) == [i for i in range(10, 41) if i % 6 == 0 and i % 9 and i != 12]


def test_raw_filter_expression(table):
    df = table.scan(filter="#s = :s AND #n > :n", names={"#s": "status", "#n": "sk"},
                    values={":s": "DELIVERED", ":n": 200}, projection="status, sk")
    assert sorted(df["sk"]) == [i for i in range(201, N_ITEMS) if i % 3 == 2]
    with pytest.raises(InputError, match="#a0"):
        table.scan(filter="#a0 = :x", names={"#a0": "status"}, values={":x": "A"},
                   projection=["name"])


# --- budgets and guards ------------------------------------------------------------------------

def test_max_items_stops_exactly_and_resumes(table, full):
    first = table.scan(max_items=25, page_size=10)
    meta = first.attrs["xacct"]
    assert len(first) == 25 and meta["partial"] is True and meta["reason"] == "max_items"
    assert meta["pages"] == 3 and meta["consumed_rcu"] > 0
    assert set(meta["last_evaluated_key"]) == {"pk", "sk"}
    rest = table.scan(start_key=meta["last_evaluated_key"])
    assert rest.attrs["xacct"]["partial"] is False
    pd.testing.assert_frame_equal(_plain(pd.concat([first, rest])), _plain(full))


def test_max_items_with_filter_truncates_a_page(table):
    df = table.scan(filter={"status": "PENDING"}, max_items=7, page_size=30)
    assert len(df) == 7 and set(df["status"]) == {"PENDING"}
    resume = df.attrs["xacct"]["last_evaluated_key"]
    rest = table.scan(filter={"status": "PENDING"}, start_key=resume)
    assert len(df) + len(rest) == N_ITEMS // 3
    assert not set(zip(df["pk"], df["sk"])) & set(zip(rest["pk"], rest["sk"]))


def test_max_rcu_stops_early(table):
    df = table.scan(max_rcu=2, page_size=10)
    meta = df.attrs["xacct"]
    assert meta["partial"] is True and meta["reason"] == "max_rcu"
    # a page of 10 items (~2 KB, under one 4 KB unit) costs 0.5 RCU eventually consistent, as on
    # AWS (the sandbox computes capacity as AWS does): the budget of 2 is met after 4 pages
    assert meta["consumed_rcu"] == 2 and meta["pages"] == 4 and len(df) == 40


def test_parallel_budget_resumes_per_segment(table, full):
    first = table.scan(segments=3, max_items=50, page_size=10)
    keys = first.attrs["xacct"]["last_evaluated_key"]
    assert len(first) == 50 and isinstance(keys, list) and len(keys) == 3
    rest = table.scan(segments=3, start_key=keys)
    both = pd.concat([first, rest])
    assert len(both) == N_ITEMS and not both.duplicated(KEYS).any()


def test_full_scan_guard(table, monkeypatch):
    monkeypatch.setattr(table_module, "FULL_SCAN_ITEM_LIMIT", 100)
    with pytest.raises(InputError) as refused:
        table.scan(filter={"status": "SHIPPED"})  # a filter still reads everything
    assert str(refused.value).startswith(f"full scan of table {TABLE} (~{N_ITEMS} items, ~")
    assert "allow_full_scan=True" in str(refused.value) and "max_items" in str(refused.value)
    assert len(table.scan(allow_full_scan=True, projection=["sk"])) == N_ITEMS
    assert len(table.scan(max_items=3)) == 3


# --- throttling: real botocore retries + our resume --------------------------------------------

class _Throttler:
    """A before-send hook that answers chosen Scan requests with a real HTTP 400 throttling
    error, as DynamoDB does, and records every request's ExclusiveStartKey."""

    BODY = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#"
                                 "ProvisionedThroughputExceededException",
                       "message": "The level of configured provisioned throughput for the table "
                                  "was exceeded."}).encode()

    def __init__(self, throttle):
        self.throttle = throttle  # request number (from 1) -> throttle it?
        self.sent: list[tuple[str | None, bool]] = []

    def __call__(self, request, **_):
        start = json.loads(request.body).get("ExclusiveStartKey")
        throttled = self.throttle(len(self.sent) + 1)
        self.sent.append((json.dumps(start, sort_keys=True) if start else None, throttled))
        if throttled:
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"},
                               SimpleNamespace(stream=lambda **_: iter([self.BODY])))
        return None


@pytest.fixture
def throttled_table(world, monkeypatch):
    """A fresh session (hooks must not leak into other tests); botocore's standard retry mode
    with 3 attempts per request, and its sleeps between attempts skipped."""
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda _seconds: None))

    def make(throttle) -> tuple[RemoteTable, _Throttler]:
        session = assume(PROFILE, role_arn(role_name(ENV, CONSUMER)))
        hook = _Throttler(throttle)
        session.events.register("before-send.dynamodb.Scan", hook)
        return RemoteTable(session, TABLE, config=Config(retries={"total_max_attempts": 3})), hook

    return make


def test_our_retry_settings_are_explicit(table):
    retries = table._client(1).meta.config.retries
    assert retries == {"mode": "standard", "total_max_attempts": 10}


def test_throttling_resumes_from_the_last_key(throttled_table, full):
    # requests 3,4 / 8,9 / ...: botocore resends #3 as #4 (throttled again) and #5, the same page
    remote, hook = throttled_table(lambda n: n % 5 in (3, 4))
    df = remote.scan(page_size=20)
    pd.testing.assert_frame_equal(_by_key(df), _by_key(full))
    failed = [n for n, (_, throttled) in enumerate(hook.sent) if throttled]
    assert failed and len(hook.sent) == df.attrs["xacct"]["pages"] + len(failed)
    assert [start for start, _ in hook.sent].count(None) == 1  # never restarted from the top
    for n in failed:  # the request after a throttled one asks for the same page
        assert hook.sent[n + 1][0] == hook.sent[n][0]


def test_throttling_gives_up_with_a_clear_error(throttled_table):
    remote, hook = throttled_table(lambda n: n > 1)
    with pytest.raises(AwsError) as err:
        remote.scan(page_size=100)
    text = str(err.value)
    assert f"table {TABLE} is throttled" in text and "after 3 attempts" in text
    assert "segments" in text and "max_rcu" in text
    assert len(hook.sent) == 1 + 3  # the first page, then one request sent 3 times by botocore
    assert isinstance(err.value.__cause__, ClientError)  # --debug shows botocore's own error


# --- get / get_many ---------------------------------------------------------------------------

def test_get_and_get_many(table, full):
    one = table.get({"pk": "P1", "sk": "9"})
    assert len(one) == 1 and _matches(one.loc[0, "doc"], ITEMS[9]["doc"])
    absent = table.get({"pk": "P1", "sk": 10})
    assert absent.empty and list(absent.columns) == KEYS
    keys = [{"pk": f"P{i % 8}", "sk": i} for i in range(N_ITEMS - 1, -1, -2)]  # 120, reversed
    many = table.get_many(keys + keys[:3] + [{"pk": "P0", "sk": 1}])  # duplicates, one absent
    assert list(many["sk"]) == [k["sk"] for k in keys]
    with pytest.raises(InputError, match="exactly its key attributes"):
        table.get({"pk": "P1"})


# --- errors -----------------------------------------------------------------------------------

def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and "<" not in text, text
    return text


def test_read_role_denied_a_write(table):
    with pytest.raises(AccessDenied) as denied:
        table.call("PutItem", Item={"pk": {"S": "P9"}, "sk": {"N": "1"}})
    text = _one_line(denied.value)
    assert f"dynamodb:PutItem on table {TABLE}" in text and "access denied" in text
    assert "access level is probably Read" in text and "verify" in text


def test_index_not_granted_is_denied(world):
    with pytest.raises(AccessDenied) as denied:
        RemoteTable(world.no_index, TABLE).query("SHIPPED", index="by_status")
    text = _one_line(denied.value)
    assert f"dynamodb:Query on index by_status of table {TABLE}" in text
    assert f"{TABLE}/index/*" in text


def test_unknown_table(world):
    with pytest.raises(InputError) as missing:  # an admin sees "not found"...
        RemoteTable(world.admin, "tabletest-nope").describe()
    assert _one_line(missing.value) == (
        f"table tabletest-nope not found in account {MAIN} (region us-east-1) — check the name "
        "/ the granted tables")
    with pytest.raises(AccessDenied) as denied:  # ...the role is denied: it is not granted
        RemoteTable(world.reader, "tabletest-nope").describe()
    assert "dynamodb:DescribeTable on table tabletest-nope" in _one_line(denied.value)


def test_unknown_index(table):
    with pytest.raises(InputError) as err:
        table.scan(index="by_nothing", max_items=1)
    assert "has no index 'by_nothing'" in _one_line(err.value) and "by_status" in str(err.value)


def test_key_condition_on_a_non_key_attribute(table):
    with pytest.raises(InputError) as err:
        table.query({"status": "SHIPPED"})
    text = _one_line(err.value)
    assert "pk (partition, S) + sk (sort, N)" in text and "index by_status" in text
    with pytest.raises(InputError, match="no sort key|sort"):
        table.query("SHIPPED", index="by_status", sort={"sk": 3})


def test_wrong_key_type(table):
    with pytest.raises(InputError) as err:
        table.query("P1", sort=(">", "abc"))
    assert "key sk of table" in _one_line(err.value) and "type N" in str(err.value)
    with pytest.raises(InputError, match="begins_with needs a string"):
        table.query("P1", sort=("begins_with", 1))
    with pytest.raises(InputError, match="segments"):
        table.scan(segments=0, max_items=1)


def test_invalid_credentials(sandbox, monkeypatch):
    bogus = boto3.Session(aws_access_key_id="AKIA" + "IOSFODNN7BOGUS00", aws_secret_access_key="x" * 40,
                          region_name="us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.endpoint_url)  # a bare-keys session has none
    with pytest.raises(CredentialsExpired) as err:
        RemoteTable(bogus, TABLE).describe()
    assert "expired or invalid (InvalidClientTokenId)" in _one_line(err.value)


# --- export -----------------------------------------------------------------------------------

def test_exports_round_trip(full, tmp_path):
    rows = _rows(full)
    export.to_csv(full, tmp_path / "t.csv")
    export.to_parquet(full, tmp_path / "t.parquet")
    export.write_frame(full, tmp_path / "t.jsonl")
    csv = pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)
    parquet = pd.read_parquet(tmp_path / "t.parquet")
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert len(csv) == len(parquet) == len(lines) == N_ITEMS
    for n, row in enumerate(lines):
        original = rows[(row["pk"], row["sk"])]
        assert csv.loc[n, "pk"] == row["pk"] == parquet.loc[n, "pk"]
        if "big" in row:
            assert row["big"] == original["big"] and csv.loc[n, "big"] == str(original["big"])
            assert parquet.loc[n, "big"] == Decimal(original["big"])  # typed: decimal128, as scan --out
        if "precise" in row:
            assert Decimal(str(row["precise"])) == original["precise"]
            assert Decimal(csv.loc[n, "precise"]) == original["precise"]
        if "raw" in row:
            assert base64.b64decode(row["raw"]) == original["raw"] == parquet.loc[n, "raw"]
        if "tags" in row:
            assert row["tags"] == sorted(original["tags"]) == json.loads(csv.loc[n, "tags"])
            assert list(parquet.loc[n, "tags"]) == sorted(original["tags"])  # a set: a sorted list
        assert row["doc"]["deep"][0] == 1.5 and row["doc"]["none"] is None
        back = parquet.loc[n, "doc"]  # typed: a struct, as scan --out writes it
        assert {k: v for k, v in back.items() if v is not None and k != "deep"} == {
            k: v for k, v in row["doc"].items() if v is not None and k != "deep"}
        # a list of several types: its exact DynamoDB JSON text (Parquet has no union type)
        assert json.loads(back["deep"])["L"][0] == {"N": "1.5"}
    assert str(parquet["qty"].dtype) == "Int64"
    with pytest.raises(InputError, match=".csv, .parquet, .jsonl"):
        export.write_frame(full, tmp_path / "t.xlsx")


# --- CLI --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def params(world, tmp_path_factory) -> str:
    return read_params(tmp_path_factory.mktemp("params"), ENV, TABLE, PROFILE)


def test_cli_scan(params, tmp_path, capsys):
    out = tmp_path / "scan.csv"
    code = cli_main(["scan", "--params", params, "--table", TABLE, "--filter", "status=SHIPPED",
                     "--filter", "sk>=100", "--limit", "30", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    df = pd.read_csv(out)
    assert len(df) == 30 and set(df["status"]) == {"SHIPPED"} and df["sk"].min() >= 100
    summary = err.strip().splitlines()[-1]
    assert "30 rows" in summary and "pages" in summary and "RCU" in summary and "partial" in summary


def test_cli_query_subprocess(world, params, tmp_path):
    out = tmp_path / "q.parquet"
    proc = subprocess.run(
        [sys.executable, "-m", "xacct_nb.cli", "query", "--params", params, "--table", TABLE,
         "--index", "by_status", "--key", "status=DELIVERED", "--sort", "between:2026-02:2026-04",
         "--out", str(out)], env=world.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(out)
    assert len(df) > 0 and set(df["status"]) == {"DELIVERED"}
    assert df["date"].between("2026-02", "2026-04").all()
    assert len(proc.stderr.strip().splitlines()) == 1 and "complete" in proc.stderr


@pytest.mark.parametrize("argv,needle", [
    (["scan", "--table", "payments", "--out", "x.csv"], f"granted tables: {TABLE}"),
    (["scan", "--table", TABLE, "--out", "x.xlsx"], ".csv, .parquet, .jsonl"),
    (["query", "--table", TABLE, "--key", "status=X", "--out", "x.csv"], "pk (partition, S)"),
    (["query", "--table", TABLE, "--key", "pk=P1", "--sort", "around:3", "--out", "x.csv"], "--sort"),
])
def test_cli_refusals(params, tmp_path, capsys, argv, needle, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli_main([argv[0], "--params", params, *argv[1:]])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


# --- the Arrow path: to_arrow, dtype_backend, typed Parquet -------------------------------------

def _arrow_matches(actual, wire: dict) -> bool:
    """One value of a typed Arrow table (as_py) against what was written."""
    ((tag, value),) = wire.items()
    if tag == "NULL":
        return actual is None
    if isinstance(actual, str) and tag not in ("S", "N"):  # a list of mixed elements
        return _json_matches(actual, wire)
    if tag == "M":  # a struct has every key of every map: the others are null
        return all(_arrow_matches(actual.get(k), v) for k, v in value.items()) and all(
            actual[k] is None for k in set(actual) - set(value))
    if tag == "L":
        return len(actual) == len(value) and all(map(_arrow_matches, actual, value))
    if tag == "N":
        return Decimal(str(actual)) == Decimal(value)
    if tag == "NS":
        return {Decimal(str(v)) for v in actual} == {Decimal(v) for v in value}
    return _matches(set(actual) if tag in ("SS", "BS") else actual, wire)


def _json_matches(text: str, wire: dict) -> bool:
    """DynamoDB JSON text (B as base64, as on the wire) against what was written."""
    return json.loads(text) == json.loads(json.dumps(wire, default=lambda raw: base64
                                                     .b64encode(raw).decode()))


def test_to_arrow_is_typed_and_exact(table):
    arrow = table.to_arrow()
    assert arrow.num_rows == N_ITEMS and arrow.column_names[:2] == KEYS
    types = {field.name: field.type for field in arrow.schema}
    assert types["doc"].field("n").type == pa.int64()
    assert types["big"] == pa.decimal128(38, 0) and types["amount"] == pa.decimal128(38, 3)
    assert types["lucky"].value_type == pa.decimal128(38, 2) and types["raw"] == pa.binary()
    as_json = {f.name for f in arrow.schema if (f.metadata or {}).get(b"xacct.encoding")}
    assert as_json == {"mixed"}  # S on some items, N on others
    rows = {(r["pk"], r["sk"]): r for r in arrow.to_pylist()}
    for item in ITEMS:
        row = rows[(item["pk"]["S"], int(item["sk"]["N"]))]
        for name, value in row.items():
            wire = item.get(name, {"NULL": True})
            matches = _json_matches if name in as_json and value is not None else _arrow_matches
            assert matches(value, wire), (item["sk"], name, value)
    stats = read_stats(arrow)
    assert stats["items"] == N_ITEMS and stats["partial"] is False


def test_to_arrow_budgets_and_resume(table):
    first = table.to_arrow(max_items=25, page_size=10)
    stats = read_stats(first)
    assert first.num_rows == 25 and stats["partial"] and stats["reason"] == "max_items"
    rest = table.to_arrow(start_key=stats["last_evaluated_key"])
    keys = list(zip(first["pk"].to_pylist() + rest["pk"].to_pylist(),
                    first["sk"].to_pylist() + rest["sk"].to_pylist()))
    assert len(keys) == len(set(keys)) == N_ITEMS
    parallel = table.to_arrow(segments=3, page_size=40)
    assert parallel.num_rows == N_ITEMS
    query = table.to_arrow("query", "P3")
    assert set(query["pk"].to_pylist()) == {"P3"} and query.num_rows == N_ITEMS // 8
    with pytest.raises(InputError, match="mode"):
        table.to_arrow("get")


def test_dtype_backends(table, full):
    arrow_dtypes = table.scan(dtype_backend="pyarrow")
    assert all(isinstance(dtype, pd.ArrowDtype) for dtype in arrow_dtypes.dtypes)
    assert arrow_dtypes.attrs["xacct"]["items"] == N_ITEMS
    nullable = table.scan(dtype_backend="numpy_nullable")
    assert str(nullable["name"].dtype) == "string" and str(nullable["qty"].dtype) == "Int64"
    assert str(nullable["flag"].dtype) == "boolean"
    expected = _by_key(full)
    for frame in (arrow_dtypes, nullable):
        got = _by_key(frame)
        for name in ("pk", "name", "status", "qty", "flag"):
            assert got[name].astype(object).where(got[name].notna(), None).tolist() == \
                expected[name].astype(object).where(expected[name].notna(), None).tolist()
    # numpy_nullable is the default frame with nullable dtypes: nested values (a NULL inside a
    # map is a key with None) exactly as there, and flatten_maps works
    got = _by_key(nullable)
    assert got["doc"].tolist() == expected["doc"].tolist()
    assert str(nullable["precise"].dtype) == str(full["precise"].dtype)
    flat = table.scan(dtype_backend="numpy_nullable", flatten_maps=True)
    assert str(flat["doc.city"].dtype) == "string"
    with pytest.raises(InputError, match="flatten_maps"):
        table.scan(dtype_backend="pyarrow", flatten_maps=True)
    with pytest.raises(InputError, match="dtype_backend: 'numpy' is not a backend"):
        table.scan(dtype_backend="numpy")


def test_cli_scan_parquet_is_typed(params, tmp_path, capsys):
    import duckdb

    out = tmp_path / "typed.parquet"
    assert cli_main(["scan", "--params", params, "--table", TABLE, "--out", str(out)]) == 0
    assert f"{N_ITEMS:,} rows" in capsys.readouterr().err
    with duckdb.connect() as db:
        types = {row[0]: row[1] for row in
                 db.execute(f"DESCRIBE SELECT * FROM '{out}'").fetchall()}
        big = db.execute(f"SELECT big FROM '{out}' WHERE big IS NOT NULL ORDER BY big").fetchall()
    assert types["doc"].startswith("STRUCT(city VARCHAR, n BIGINT")
    assert types["big"] == "DECIMAL(38,0)" and types["lucky"] == "DECIMAL(38,2)[]"
    assert types["raw"] == "BLOB" and types["flag"] == "BOOLEAN"
    assert {value for (value,) in big} == {Decimal(2**63 + 5), Decimal(10**30), Decimal(-(2**64))}
    assert b"xacct.read" not in (pq.read_table(out).schema.metadata or {})  # stats: not data


def test_seeded_orders_parquet_in_duckdb(sandbox, tmp_path):
    """The sandbox's `orders` through the Arrow path and the CLI's Parquet writer."""
    import duckdb

    orders = RemoteTable(sandbox.session("sandbox-main"), "orders", progress=False)
    path = write_parquet(orders.to_arrow(), tmp_path / "orders.parquet")
    with duckdb.connect() as db:
        types = {row[0]: row[1] for row in
                 db.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()}
        refs = db.execute(f"SELECT order_id, ledger_ref FROM '{path}' "
                          "WHERE ledger_ref IS NOT NULL").fetchall()
    assert types["shipping"] == "STRUCT(city VARCHAR, zip VARCHAR, weight_kg DECIMAL(38,2))"
    assert types["lines"] == "STRUCT(sku VARCHAR, qty BIGINT)[]"
    assert types["ledger_ref"] == "DECIMAL(38,0)"
    assert refs and all(ref == 2**63 + int(order_id[1:]) for order_id, ref in refs)


# --- `scan --out` replaces the file atomically, even when the writer is killed ------------------

PAUSING_CLI = """
import sys, time
from xacct_nb import atomicfile
def pause(stage, path):
    if stage == sys.argv[1]:
        print(stage, flush=True)
        time.sleep(120)  # killed here by the test
atomicfile._stage_hook = pause
from xacct_nb.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _rows_in(path) -> int:
    if path.suffix == ".parquet":
        return pq.read_table(path).num_rows
    if path.suffix == ".csv":
        return len(pd.read_csv(path))
    return len([json.loads(line) for line in path.read_text().splitlines()])


@pytest.mark.parametrize("stage", ["created", "written", "replaced"])
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGINT"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_cli_out_killed_keeps_old_or_new_complete(world, params, tmp_path, suffix, signal_name, stage):
    """The writer killed at the moment the target would change (temp file just created; complete
    and fsynced right before the rename; right after it): the old file intact, or the new one
    complete — never a truncated file; Ctrl-C leaves no temporary file."""
    import signal

    out = tmp_path / f"t{suffix}"
    export.write_frame(pd.DataFrame({"old": [1, 2, 3]}), out)
    old = out.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", PAUSING_CLI, stage, "scan", "--params", params,
                             "--table", TABLE, "--out", str(out)],
                            env=world.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == stage, proc.stderr.read()
        proc.send_signal(getattr(signal, signal_name))
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    temps = [p.name for p in tmp_path.iterdir() if p.name != out.name]
    if stage == "replaced":
        assert _rows_in(out) == N_ITEMS  # the new file, complete
    else:
        assert out.read_bytes() == old
    if signal_name == "SIGINT":
        assert proc.returncode == 130 and "interrupted" in err and temps == []
    else:
        assert proc.returncode == -9 and len(temps) == (0 if stage == "replaced" else 1)


# --- names are names; paths are explicit --------------------------------------------------------

NAMES_TABLE = "tabletest-names"
ODD_NAMES = {"a.b": {"S": "dot"}, "x[0]": {"S": "bracket"}, "my attr": {"S": "space"},
             'say "hi"': {"S": "quote"}}


@pytest.fixture(scope="module")
def names_table(world):
    """Items whose top-level attribute NAMES hold '.', '[0]', a space and a quote — next to a
    real map 'a' with key 'b' and a real list 'x', so a name read as a path finds other data."""
    ddb = world.admin.client("dynamodb")
    ddb.create_table(TableName=NAMES_TABLE, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    ddb.put_item(TableName=NAMES_TABLE, Item={"id": {"S": "odd"}, **ODD_NAMES})
    ddb.put_item(TableName=NAMES_TABLE, Item={
        "id": {"S": "nested"}, "a": {"M": {"b": {"S": "dot"}}}, "x": {"L": [{"S": "bracket"}]}})
    yield RemoteTable(world.admin, NAMES_TABLE, progress=False)
    ddb.delete_table(TableName=NAMES_TABLE)


@pytest.mark.parametrize("name,value", [("a.b", "dot"), ("x[0]", "bracket"), ("my attr", "space"),
                                        ('say "hi"', "quote")])
def test_a_str_filter_key_is_one_name(names_table, name, value):
    df = names_table.scan(filter={name: value})
    assert list(df["id"]) == ["odd"]  # the top-level attribute, not a path into 'a' or 'x'
    assert df.loc[0, name] == value


def test_a_tuple_is_a_path(names_table):
    assert list(names_table.scan(filter={("a", "b"): "dot"})["id"]) == ["nested"]
    assert list(names_table.scan(filter={("x", 0): "bracket"})["id"]) == ["nested"]
    df = names_table.scan(projection=[("a", "b"), ("x", 0)], filter={"id": "nested"})
    assert df.loc[0, "a"] == {"b": "dot"} and df.loc[0, "x"] == ["bracket"]
    with pytest.raises(InputError, match="tuple of names and list indexes"):
        names_table.scan(filter={("a", -1): "dot"})


@pytest.mark.parametrize("backend", [None, "pyarrow"])
def test_projection_of_odd_names_keeps_them(names_table, backend):
    df = names_table.scan(projection=list(ODD_NAMES), filter={"id": "odd"}, dtype_backend=backend)
    assert set(df.columns) == {"id", *ODD_NAMES}
    assert df.attrs["xacct"]["projection_missing"] == []


def test_a_projected_name_no_item_has_is_reported(names_table):
    with pytest.warns(table_module.ProjectionWarning, match="no item returned nope"):
        df = names_table.scan(projection=["a.b", "nope"])
    assert df.attrs["xacct"]["projection_missing"] == ["nope"]
    with pytest.warns(table_module.ProjectionWarning, match='"a.b"'):
        arrow = names_table.to_arrow(projection=["a.b"], filter={"id": "nested"})
    assert read_stats(arrow)["projection_missing"] == ['"a.b"']
    with pytest.warns(table_module.ProjectionWarning):
        got = names_table.get({"id": "odd"}, projection=["my attr", "ghost"])
    assert got.attrs["xacct"]["projection_missing"] == ["ghost"]


def test_cli_grammar_quotes_names(names_table, world, tmp_path, capsys, monkeypatch):
    """In the CLI (and the panel) a bare a.b is a path and "a.b" the name; a projected name that
    nothing returned is in the summary line."""
    from xacct_nb.cli import read_to_file
    from xacct_nb.grammar import parse_filters, parse_projection

    out = tmp_path / "n.jsonl"
    request = {"mode": "scan", "table": NAMES_TABLE, "out": str(out),
               "read": {"filter": parse_filters('"a.b"=dot'),
                        "projection": parse_projection('"a.b", "x[0]", ghost')}}
    summary = read_to_file(world.admin, request)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [{"id": "odd", "a.b": "dot", "x[0]": "bracket"}]
    assert "1 rows" in summary and "no item returned --projection ghost" in summary
    request["read"] = {"filter": parse_filters("a.b=dot"), "projection": parse_projection("a.b, x[0]")}
    read_to_file(world.admin, request)
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"id": "nested", "a": {"b": "dot"}, "x": ["bracket"]}]
