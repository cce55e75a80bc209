"""Empty and all-null columns of every type through every read path (table-driven).

One table in the sandbox, one attribute per case; pages of 3 items so that "a type seen only as
NULL in the first pages" really is: items 0-5 hold NULL, items 6-7 the value. Each case goes
through ``scan`` with each ``dtype_backend``, ``to_arrow``, Parquet (the CLI's writer and
``to_parquet``) and ``to_dask``; each must give the same values row by row (DynamoDB has no
empty sets, so none appear).
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from xacct_nb import RemoteTable
from xacct_nb.dynamo import writers as export
from xacct_nb.dynamo.parquet import write_parquet

TABLE = "emptycols"
N = 8
LATE = 6  # items before this one hold NULL in the late_* columns


def late(value: dict) -> list[dict | None]:
    return [{"NULL": True}] * LATE + [value] * (N - LATE)


# name -> the attribute of items 0..N-1 (None: absent), and the value scan() gives for it
CASES: dict[str, tuple[list[dict | None], list]] = {
    "empty_list": ([{"L": []}] * N, [[]] * N),
    "empty_map": ([{"M": {}}] * N, [{}] * N),
    "null_only": ([{"NULL": True}] * N, [None] * N),
    "one_null": ([{"NULL": True}] + [None] * (N - 1), [None] * N),
    "empty_list_or_absent": ([{"L": []}, None] * (N // 2), [[], None] * (N // 2)),
    "empty_list_then_items": ([{"L": []}] * LATE + [{"L": [{"S": "x"}]}] * (N - LATE),
                              [[]] * LATE + [["x"]] * (N - LATE)),
    "list_of_empty_lists": ([{"L": [{"L": []}, {"L": []}]}] * N, [[[], []]] * N),
    "map_of_empties": ([{"M": {"l": {"L": []}, "m": {"M": {}}, "z": {"NULL": True}}}] * N,
                       [{"l": [], "m": {}, "z": None}] * N),
    "empty_string": ([{"S": ""}] * N, [""] * N),
    "empty_binary": ([{"B": b""}] * N, [b""] * N),
    "late_S": (late({"S": "s"}), [None] * LATE + ["s"] * (N - LATE)),
    "late_N": (late({"N": "7"}), [None] * LATE + [7] * (N - LATE)),
    "late_B": (late({"B": b"\x01"}), [None] * LATE + [b"\x01"] * (N - LATE)),
    "late_BOOL": (late({"BOOL": True}), [None] * LATE + [True] * (N - LATE)),
    "late_SS": (late({"SS": ["a"]}), [None] * LATE + [{"a"}] * (N - LATE)),
    "late_NS": (late({"NS": ["2"]}), [None] * LATE + [{2}] * (N - LATE)),
    "late_BS": (late({"BS": [b"\x02"]}), [None] * LATE + [{b"\x02"}] * (N - LATE)),
    "late_M": (late({"M": {"k": {"S": "v"}}}), [None] * LATE + [{"k": "v"}] * (N - LATE)),
    "late_L": (late({"L": [{"N": "1"}]}), [None] * LATE + [[1]] * (N - LATE)),
}


@pytest.fixture(scope="module")
def table(sandbox):
    session = sandbox.session("sandbox-main")
    ddb = session.client("dynamodb")
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}])
    for i in range(N):
        item = {"pk": {"S": "P"}, "sk": {"N": str(i)}}
        item.update({name: values[i] for name, (values, _) in CASES.items() if values[i] is not None})
        ddb.put_item(TableName=TABLE, Item=item)
    yield RemoteTable(session, TABLE, progress=False)
    ddb.delete_table(TableName=TABLE)


def plain(value):
    """One spelling of a value whatever container a path returns it in."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def column(df: pd.DataFrame, name: str) -> list:
    ordered = df.sort_values("sk").reset_index(drop=True)
    return [plain(v) for v in ordered[name].tolist()]


SCAN = {"page_size": 3, "allow_full_scan": True}


@pytest.fixture(scope="module")
def reads(table, tmp_path_factory):
    """Every path's frame, read once (the reads are what is under test, not the cases)."""
    folder = tmp_path_factory.mktemp("empty")
    arrow = table.to_arrow(**SCAN)
    default = table.scan(**SCAN)
    write_parquet(arrow, folder / "cli.parquet")
    export.to_parquet(default, folder / "frame.parquet")
    return {
        "scan": default,
        "scan numpy_nullable": table.scan(dtype_backend="numpy_nullable", **SCAN),
        "scan pyarrow": table.scan(dtype_backend="pyarrow", **SCAN),
        "scan segments=2": table.scan(segments=2, **SCAN),
        "to_arrow": arrow.to_pandas(),
        "parquet (scan --out)": pq.read_table(folder / "cli.parquet").to_pandas(),
        "parquet (to_parquet of the frame)": pq.read_table(folder / "frame.parquet").to_pandas(),
        "to_dask": table.to_dask(segments=2, page_size=3).compute(scheduler="sync"),
    }


@pytest.mark.parametrize("path", ["scan", "scan numpy_nullable", "scan pyarrow", "scan segments=2",
                                  "to_arrow", "parquet (scan --out)", "parquet (to_parquet of the frame)",
                                  "to_dask"])
@pytest.mark.parametrize("case", list(CASES))
def test_every_case_through_every_path(reads, path, case):
    values = ARROW_TYPED.get(case, CASES[case][1]) if path in ARROW_PATHS else CASES[case][1]
    expected = [plain(v) for v in values]
    got = column(reads[path], case)
    if path in ARROW_PATHS and case in ("late_SS", "late_NS", "late_BS"):
        got = [None if v is None else sorted(v) for v in got]  # sets are Arrow lists
    assert got == expected


# The typed Arrow paths store a map that is empty in every item as its exact DynamoDB JSON text
# (Parquet cannot store a struct without fields; documented in xacct_nb.dynamo.arrow_types).
ARROW_PATHS = ("scan pyarrow", "to_arrow", "parquet (scan --out)", "parquet (to_parquet of the frame)")
ARROW_TYPED = {"empty_map": ['{"M":{}}'] * N,
               "map_of_empties": [{"l": [], "m": '{"M":{}}', "z": None}] * N}


def test_frame_parquet_round_trips_the_columns(table, tmp_path):
    path = export.to_parquet(table.scan(**SCAN), tmp_path / "f.parquet")
    back = pd.read_parquet(path)
    assert set(CASES) <= set(back.columns) and len(back) == N

