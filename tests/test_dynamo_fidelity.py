"""Type fidelity of the readers against two independent DynamoDB servers: moto and dynalite.

The same items — every wire type, several pages, late columns, decimals of varying precision,
numbers past 2**63, binary values, date-like text, NULL and missing attributes — are written
with the low-level client and read back three ways: ``RemoteTable.scan`` (rawpages + the column
converter), the Arrow path (raw bodies → ``pyarrow.json`` → typed table → pandas) and the typed
table itself. Each is compared, item by item, with what was written. moto is the shared sandbox
(IAM enforced, its main account's admin); dynalite is started by the fixture on a free loopback
port (``make dynalite`` installs it); without node or the package those tests skip and say why.
"""

from __future__ import annotations

import base64
import random
from decimal import Decimal

import boto3
import botocore.session
import pandas as pd
import pyarrow as pa
import pytest

from arrow_oracle import arrow_to_pandas
from arrow_read import read_arrow
from dynalite_server import Dynalite, unavailable_reason
from test_dynamo_convert import normalise
from xacct_nb import RemoteTable

TABLE = "fidelity"  # dynalite wants table names of 3 characters or more
KEYS = ["pk", "sk"]
ITEMS = 120


def wire_item(i: int, rng: random.Random) -> dict:
    item = {
        "pk": {"S": f"p{i % 7}"},
        "sk": {"N": str(i)},
        "text": {"S": ["", "héllo ✓ 日本 🙂", f"t{i}", "2026-01-02T03:04:05Z"][i % 4]},
        "score": {"N": ["1.5", "12.345", "123.4567", "7", "0.000001"][i % 5]},
        "count": {"N": str(rng.randint(-10**6, 10**6))},
        "flag": {"BOOL": i % 2 == 0},
        "blob": {"B": bytes([i % 256, 255, 0])},
        "tags": {"SS": sorted({"a", f"t{i % 3}"})},
        "nums": {"NS": ["1", "2.5", str(2**64 + i)]},
        "bins": {"BS": [b"\x01", bytes([i % 250 + 2])]},
        "doc": {"M": {"n": {"N": str(i)}, "d": {"N": "0.1"}, "when": {"S": "2026-01-02"},
                      "l": {"L": [{"S": "x"}, {"N": "0.1"}]}}},
        "lines": {"L": [{"M": {"sku": {"S": f"SKU-{j}"}, "qty": {"N": str(j + 1)}}}
                        for j in range(i % 3 + 1)]},
    }
    if i % 5 == 0:
        item["big"] = {"N": str(2**63 + i)}
    if i % 7 == 0:
        item["mixed"] = {"S": "s"} if i % 2 else {"N": "3"}
    if i % 11 == 0:
        item["nothing"] = {"NULL": True}
    if i > ITEMS // 2:
        item["late"] = {"N": f"{i}.{i % 10}"}
    return item


def session_for(endpoint: str, folder) -> boto3.Session:
    """An ordinary profile session reaching `endpoint`, from config files of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config").write_text(f"[profile f]\nregion = us-east-1\nendpoint_url = {endpoint}\n")
    (folder / "credentials").write_text("[f]\naws_access_key_id = fidelity\n"
                                        "aws_secret_access_key = fidelity\n")
    core = botocore.session.Session()
    for name, value in (("config_file", folder / "config"),
                        ("credentials_file", folder / "credentials"), ("profile", "f")):
        core.set_config_variable(name, str(value))
    return boto3.Session(botocore_session=core)


@pytest.fixture(scope="module", params=["moto", "dynalite"])
def server(request, tmp_path_factory):
    """(session, written items by key) of a table seeded on the server named by the param:
    the shared sandbox (moto, IAM enforced; its main account's admin) or a dynalite of its own."""
    if request.param == "dynalite":
        reason = unavailable_reason()
        if reason:
            pytest.skip(reason)
        with Dynalite() as endpoint:
            session = session_for(endpoint, tmp_path_factory.mktemp("dynalite"))
            yield session, seeded(session.client("dynamodb"))
    else:
        session = request.getfixturevalue("sandbox").session("sandbox-main")
        client = session.client("dynamodb")
        try:
            yield session, seeded(client)
        finally:
            client.delete_table(TableName=TABLE)


def seeded(client) -> dict:
    """Create the table, write the items; → the items written, by key."""
    client.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}])
    rng = random.Random(5)
    written = {}
    for i in range(ITEMS):
        item = wire_item(i, rng)
        client.put_item(TableName=TABLE, Item=item)
        written[(item["pk"]["S"], int(item["sk"]["N"]))] = item
    return written


def expected_rows(written: dict) -> dict:
    """The written items as natural Python values (bytes, sets, int/Decimal), by key."""
    from xacct_nb.dynamo.convert import deserialize_value

    def natural(av):
        if "B" in av:
            return {"B": base64.b64encode(av["B"]).decode()}
        if "BS" in av:
            return {"BS": [base64.b64encode(b).decode() for b in av["BS"]]}
        return av

    return {key: {name: deserialize_value(natural(av)) for name, av in item.items()}
            for key, item in written.items()}


def assert_rows_match(df: pd.DataFrame, written: dict) -> None:
    expected = expected_rows(written)
    assert len(df) == len(written)
    assert list(df.columns[:2]) == KEYS
    assert set(df.columns) == set().union(*expected.values())
    for row in df.to_dict("records"):
        reference = expected[(row["pk"], int(row["sk"]))]
        for name, value in row.items():
            assert normalise(value) == normalise(reference.get(name)), (row["pk"], row["sk"], name)


def test_remote_table_scan_is_exact(server):
    session, written = server
    df = RemoteTable(session, TABLE, progress=False).scan(page_size=17)
    assert df.attrs["xacct"]["pages"] >= 7
    assert df["sk"].dtype == "Int64" and df["flag"].dtype == "boolean"
    assert_rows_match(df, written)


def test_arrow_path_is_exact_and_equals_the_column_converter(server):
    session, written = server
    client = session.client("dynamodb")
    table = read_arrow(client, "scan", key_names=KEYS, TableName=TABLE, Limit=17)
    df = arrow_to_pandas(table)
    assert_rows_match(df, written)
    reference = RemoteTable(session, TABLE, progress=False).scan(page_size=17)
    reference.attrs = {}
    pd.testing.assert_frame_equal(df, reference)


def test_arrow_types_on_the_server(server):
    session, written = server
    table = read_arrow(session.client("dynamodb"), "scan", key_names=KEYS, TableName=TABLE,
                       Limit=17)
    schema = table.schema
    assert schema.field("text").type == pa.string()  # date-like text stays text
    assert schema.field("score").type == pa.decimal128(38, 6)
    assert schema.field("big").type == pa.decimal128(38, 0)
    assert schema.field("late").type == pa.decimal128(38, 1)
    assert schema.field("nums").type.value_type == pa.decimal128(38, 1)
    element = schema.field("lines").type.value_type
    assert [(f.name, f.type) for f in element] == [("sku", pa.string()), ("qty", pa.int64())]
    by_key = {(r["pk"], r["sk"]): r for r in table.to_pylist()}
    for (pk, sk), item in written.items():
        row = by_key[(pk, sk)]
        assert row["blob"] == item["blob"]["B"]
        assert set(row["bins"]) == set(item["bins"]["BS"])
        assert row["doc"]["when"] == "2026-01-02"
        assert row["lines"] == [{"sku": m["M"]["sku"]["S"], "qty": int(m["M"]["qty"]["N"])}
                                for m in item["lines"]["L"]]
        if "big" in item:
            assert row["big"] == Decimal(item["big"]["N"])


def test_typed_parquet_round_trips_through_pandas_pyarrow_and_duckdb(server, tmp_path):
    import duckdb
    import pyarrow.parquet as pq

    session, written = server
    table = read_arrow(session.client("dynamodb"), "scan", key_names=KEYS, TableName=TABLE,
                       Limit=17)
    path = tmp_path / "fidelity.parquet"
    pq.write_table(table, path)

    back = pq.read_table(path)
    assert back.schema.equals(table.schema, check_metadata=True)  # field metadata kept
    pd.testing.assert_frame_equal(arrow_to_pandas(back), arrow_to_pandas(table))
    assert_rows_match(arrow_to_pandas(pq.read_table(path)), written)
    frame = pd.read_parquet(path)  # pandas' own reader: the same values, Arrow's own objects
    assert len(frame) == len(written) and frame["doc"][0]["when"] == "2026-01-02"

    with duckdb.connect() as db:
        types = {row[0]: row[1] for row in db.execute(f"DESCRIBE SELECT * FROM '{path}'")
                 .fetchall()}
        assert types["doc"].startswith("STRUCT(")
        assert types["lines"] == "STRUCT(sku VARCHAR, qty BIGINT)[]"
        assert types["big"] == "DECIMAL(38,0)" and types["score"] == "DECIMAL(38,6)"
        assert types["blob"] == "BLOB" and types["nums"] == "DECIMAL(38,1)[]"
        rows = db.execute(f"SELECT pk, sk, big, blob, lines FROM '{path}'").fetchall()
    for pk, sk, big, blob, lines in rows:
        item = written[(pk, sk)]
        assert blob == item["blob"]["B"]
        assert big == (Decimal(item["big"]["N"]) if "big" in item else None)
        assert [(line["sku"], line["qty"]) for line in lines] == [
            (m["M"]["sku"]["S"], int(m["M"]["qty"]["N"])) for m in item["lines"]["L"]]
