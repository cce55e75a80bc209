"""read_export on export folders laid out as AWS documents them, uploaded to the sandbox's S3.

The fixtures are written here, byte for byte in AWS's documented shapes (Developer Guide, "DynamoDB
table export output format": the manifest-summary.json example of the ProductCatalog export, one
manifest-files.json line per data file with itemCount / md5Checksum / etag / dataFileS3Key as full
keys, gzip'd JSON Lines of ``{"Item": …}``; incremental records with Metadata.WriteTimestampMicros
as ``{"N": …}``, Keys, NewImage and OldImage) — not by the sandbox's own export writer, so the
reader is not only checked against ourselves.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from decimal import Decimal

import pandas as pd
import pytest

from test_dynamo_table import ITEMS, KEYS
from xacct_nb import RemoteTable, read_export
from xacct_nb.dynamo.export_reader import ExportChecksumError
from xacct_nb.errors import AwsError, InputError

BUCKET = "exports-reader-test"
PREFIX = "2020-Nov"
TABLE = "exportstest-fidelity"

# AWS's ProductCatalog sample items (Developer Guide sample data), DynamoDB JSON.
PRODUCT_CATALOG = [
    {"Id": {"N": "101"}, "Title": {"S": "Book 101 Title"}, "ISBN": {"S": "111-1111111111"},
     "Authors": {"L": [{"S": "Author1"}]}, "Price": {"N": "2"}, "Dimensions": {"S": "8.5 x 11.0 x 0.5"},
     "PageCount": {"N": "500"}, "InPublication": {"BOOL": True}, "ProductCategory": {"S": "Book"}},
    {"Id": {"N": "102"}, "Title": {"S": "Book 102 Title"}, "ISBN": {"S": "222-2222222222"},
     "Authors": {"L": [{"S": "Author1"}, {"S": "Author2"}]}, "Price": {"N": "20"},
     "Dimensions": {"S": "8.5 x 11.0 x 0.8"}, "PageCount": {"N": "600"},
     "InPublication": {"BOOL": True}, "ProductCategory": {"S": "Book"}},
    {"Id": {"N": "205"}, "Title": {"S": "18-Bike-204"}, "Description": {"S": "205 Description"},
     "BicycleType": {"S": "Hybrid"}, "Brand": {"S": "Brand-Company C"}, "Price": {"N": "500"},
     "Color": {"SS": ["Red", "Black"]}, "ProductCategory": {"S": "Bicycle"}},
]


def _json_wire(item: dict) -> dict:
    """An item as DynamoDB JSON text carries it: binary as base64 (boto3 takes bytes)."""
    def value(av: dict) -> dict:
        ((tag, v),) = av.items()
        if tag == "B":
            return {"B": base64.b64encode(v).decode()}
        if tag == "BS":
            return {"BS": [base64.b64encode(b).decode() for b in v]}
        if tag == "M":
            return {"M": {k: value(x) for k, x in v.items()}}
        if tag == "L":
            return {"L": [value(x) for x in v]}
        return av
    return {name: value(av) for name, av in item.items()}


def put_export(s3, export_id: str, files: list[list[dict]], *, export_type: str = "FULL_EXPORT",
               extra_summary: dict | None = None) -> str:
    """Upload an export folder in AWS's layout; returns its s3:// URL."""
    folder = f"{PREFIX}/AWSDynamoDB/{export_id}"
    manifest_lines = []
    for number, lines in enumerate(files):
        body = gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())
        key = f"{folder}/data/{number:04d}-{export_id[-8:]}.json.gz"
        put = s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        manifest_lines.append(json.dumps({
            "itemCount": len(lines),
            "md5Checksum": base64.b64encode(hashlib.md5(body).digest()).decode(),
            "etag": put["ETag"].strip('"'), "dataFileS3Key": key}))
    files_body = ("\n".join(manifest_lines) + "\n").encode()
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/manifest-files.json", Body=files_body)
    summary = {
        "version": "2020-06-30",
        "exportArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/ProductCatalog/export/{export_id}",
        "startTime": "2020-11-04T07:28:34.028Z", "endTime": "2020-11-04T07:33:43.897Z",
        "tableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/ProductCatalog",
        "tableId": "12345a12-abcd-123a-ab12-1234abc12345", "exportTime": "2020-11-04T07:28:34.028Z",
        "s3Bucket": BUCKET, "s3Prefix": PREFIX, "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None,
        "manifestFilesS3Key": f"{folder}/manifest-files.json", "billedSizeBytes": 0,
        "itemCount": sum(map(len, files)), "outputFormat": "DYNAMODB_JSON", "exportType": export_type,
        **(extra_summary or {})}
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/manifest-summary.json", Body=json.dumps(summary).encode())
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/_started", Body=b"")
    return f"s3://{BUCKET}/{folder}/"


@pytest.fixture(scope="module")
def consumer(sandbox):
    session = sandbox.session("sandbox-consumer")
    session.client("s3").create_bucket(Bucket=BUCKET)
    return session


@pytest.fixture(scope="module")
def scanned(sandbox) -> pd.DataFrame:
    """The fidelity items (every type and edge case) as scan reads them from a real table."""
    ddb = sandbox.session("sandbox-main").client("dynamodb")
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}])
    for start in range(0, len(ITEMS), 25):
        ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": it}}
                                                   for it in ITEMS[start:start + 25]]})
    yield RemoteTable(sandbox.session("sandbox-main"), TABLE, progress=False).scan()
    ddb.delete_table(TableName=TABLE)


def _by_key(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(KEYS).reset_index(drop=True).sort_index(axis=1)


def _fidelity_files() -> list[list[dict]]:
    lines = [{"Item": _json_wire(item)} for item in ITEMS]
    return [lines[:100], [], lines[100:170], lines[170:]]  # an empty partition's file, as AWS writes


def test_full_export_reads_as_scan_gives(consumer, scanned):
    url = put_export(consumer.client("s3"), "01604471314000-a1b2c3d4", _fidelity_files())
    df = read_export(consumer, url, key_names=KEYS)
    assert list(df.columns[:2]) == KEYS
    pd.testing.assert_frame_equal(_by_key(df), _by_key(scanned))
    assert df.attrs["xacct"]["items"] == len(ITEMS) and df.attrs["xacct"]["files"] == 4


def test_dask_engine_equals_pandas_engine(consumer, scanned):
    url = put_export(consumer.client("s3"), "01604471314001-b2c3d4e5", _fidelity_files())
    ddf = read_export(consumer, url, engine="dask", key_names=KEYS)
    assert ddf.npartitions == 3  # one per non-empty data file
    pd.testing.assert_frame_equal(_by_key(ddf.compute()), _by_key(scanned))


def test_dask_engine_on_worker_processes_ships_no_secret(consumer, scanned):
    """On a 2-process LocalCluster each worker opens its own S3 client from the session's recipe
    (the profile); the task graph holds no key."""
    import pickle

    from distributed import Client, LocalCluster

    url = put_export(consumer.client("s3"), "01604471314009-f9e8d7c6", _fidelity_files())
    ddf = read_export(consumer, url, engine="dask", key_names=KEYS)
    frozen = consumer.get_credentials().get_frozen_credentials()
    graph = pickle.dumps(dict(ddf.__dask_graph__()))
    assert frozen.secret_key.encode() not in graph and frozen.access_key.encode() not in graph
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster):
        pd.testing.assert_frame_equal(_by_key(ddf.compute()), _by_key(scanned))


def test_product_catalog_example(consumer):
    url = put_export(consumer.client("s3"), "01604471314002-c3d4e5f6",
                     [[{"Item": PRODUCT_CATALOG[0]}, {"Item": PRODUCT_CATALOG[2]}],
                      [{"Item": PRODUCT_CATALOG[1]}]])
    df = read_export(consumer, url, key_names=["Id"]).set_index("Id").sort_index()
    assert list(df.index) == [101, 102, 205] and str(df["PageCount"].dtype) == "Int64"
    assert df.loc[102, "Authors"] == ["Author1", "Author2"] and df.loc[205, "Color"] == {"Red", "Black"}
    assert df["InPublication"].isna().tolist() == [False, False, True]


def test_corrupted_data_file_is_rejected(consumer):
    s3 = consumer.client("s3")
    url = put_export(s3, "01604471314003-d4e5f6a7", [[{"Item": PRODUCT_CATALOG[0]}]])
    key = url[len(f"s3://{BUCKET}/"):] + "data/0000-d4e5f6a7.json.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(
        (json.dumps({"Item": {**PRODUCT_CATALOG[0], "Price": {"N": "1"}}}) + "\n").encode()))
    for engine in ("pandas", "dask"):
        with pytest.raises(ExportChecksumError, match="differs from the manifest's .* export the table again"):
            result = read_export(consumer, url, engine=engine)
            result.compute()


def test_incremental_export_reads_as_change_records(consumer):
    stamp = {"WriteTimestampMicros": {"N": "1604471314000000"}}
    old = {"Id": {"N": "101"}, "Price": {"N": "2"}}
    records = [
        # insert: keys and the new image
        {"Metadata": stamp, "Keys": {"Id": {"N": "103"}}, "NewImage": {"Id": {"N": "103"}, "Price": {"N": "9.5"}}},
        # update (NEW_AND_OLD_IMAGES): keys, new and old image
        {"Metadata": {"WriteTimestampMicros": {"N": "1604471315000000"}}, "Keys": {"Id": {"N": "101"}},
         "NewImage": {"Id": {"N": "101"}, "Price": {"N": "3"}}, "OldImage": old},
        # delete: keys and the old image, no new image
        {"Metadata": {"WriteTimestampMicros": {"N": "1604471316000000"}}, "Keys": {"Id": {"N": "205"}},
         "OldImage": {"Id": {"N": "205"}, "Color": {"SS": ["Red"]}}},
    ]
    url = put_export(consumer.client("s3"), "01604471314004-e5f6a7b8", [records[:2], records[2:]],
                     export_type="INCREMENTAL_EXPORT",
                     extra_summary={"exportFromTime": "2020-11-04T07:00:00.000Z",
                                    "exportToTime": "2020-11-04T08:00:00.000Z",
                                    "outputView": "NEW_AND_OLD_IMAGES"})
    df = read_export(consumer, url)
    assert list(df.columns) == ["change", "write_timestamp_micros", "Id", "new_image", "old_image"]
    assert df["change"].tolist() == ["insert_or_update", "insert_or_update", "delete"]
    assert df["Id"].tolist() == [103, 101, 205] and str(df["Id"].dtype) == "Int64"
    assert df["write_timestamp_micros"].tolist() == [1604471314000000, 1604471315000000, 1604471316000000]
    assert df["new_image"].tolist() == [{"Id": 103, "Price": Decimal("9.5")}, {"Id": 101, "Price": 3}, None]
    assert df["old_image"].tolist() == [None, {"Id": 101, "Price": 2}, {"Id": 205, "Color": {"Red"}}]


def test_running_export_and_bad_urls_are_one_line_errors(consumer):
    with pytest.raises(AwsError, match="no manifest-summary.json yet .* --wait"):
        read_export(consumer, f"s3://{BUCKET}/{PREFIX}/AWSDynamoDB/01604471314999-00000000/")
    for url in ("exports/AWSDynamoDB/x/", f"s3://{BUCKET}/{PREFIX}/", f"s3://{BUCKET}/AWSDynamoDB/"):
        with pytest.raises(InputError, match="s3://BUCKET/PREFIX/AWSDynamoDB/EXPORT_ID/"):
            read_export(consumer, url)
    with pytest.raises(InputError, match="engine must be"):
        read_export(consumer, f"s3://{BUCKET}/{PREFIX}/AWSDynamoDB/x/", engine="spark")  # type: ignore[arg-type]


def test_reading_needs_get_object(sandbox, consumer):
    url = put_export(consumer.client("s3"), "01604471314005-f6a7b8c9", [[{"Item": PRODUCT_CATALOG[0]}]])
    with pytest.raises(AwsError, match="access denied|AccessDenied"):
        read_export(sandbox.session("sandbox-analyst"), url)


def test_dask_engine_refuses_an_attribute_its_meta_lacks(consumer):
    url = put_export(consumer.client("s3"), "01604471314006-a7b8c9d0",
                     [[{"Item": PRODUCT_CATALOG[0]}], [{"Item": PRODUCT_CATALOG[2]}]])
    ddf = read_export(consumer, url, engine="dask")
    assert "BicycleType" not in ddf.columns  # the meta is the first file's frame
    with pytest.raises(InputError, match="is absent from the export's first data file.*engine='pandas'"):
        ddf.compute()
    assert "BicycleType" in read_export(consumer, url).columns
