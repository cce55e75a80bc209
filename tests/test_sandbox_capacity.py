"""Consumed capacity as DynamoDB computes it (patches_capacity), on items of known size.

Stock moto 5.2.5 answers 1 unit for every read (0.5 for GetItem), whatever was read.
"""

from __future__ import annotations

import math
from uuid import uuid4

import pytest

from xacct_nb.sandbox.patches_capacity import item_size, number_size, read_units

BODY = 1000  # characters of the `body` attribute of each scanned item
SMALL_SIZE = len("pk") + len("i0") + len("body") + BODY  # 1008 bytes
BIG_SIZE = len("pk") + len("big") + len("blob") + 5000  # 5009 bytes: two 4 KB units


def test_item_sizes_follow_awss_rules():
    from moto.dynamodb.models.dynamo_type import DynamoType

    def size(**attrs):
        return item_size({name: DynamoType(value) for name, value in attrs.items()})

    assert size(s={"S": "héllo"}) == 1 + 6  # UTF-8 bytes of name and value
    assert size(n={"N": "123.4500"}) == 1 + 4  # 5 significant digits: ceil(5/2) + 1
    assert size(n={"N": "-0.00012"}) == 1 + 2 and number_size("1000000") == 2
    assert size(b={"B": "AAEC"}) == 1 + 3  # raw bytes, not the base64 text
    assert size(t={"BOOL": True}, z={"NULL": True}) == (1 + 1) * 2
    assert size(l={"L": [{"S": "a"}, {"N": "1"}]}) == 1 + 3 + (1 + 1) + (2 + 1)
    assert size(m={"M": {"k": {"BOOL": False}}}) == 1 + 3 + (1 + 1 + 1)
    assert size(ss={"SS": ["ab", "c"]}, ns={"NS": ["12", "3"]}) == (2 + 3) + (2 + 2 + 2)
    assert read_units(4096, consistent=True) == 1.0 and read_units(4097, consistent=True) == 2.0
    assert read_units(0, consistent=False) == 0.5  # a read of nothing still costs a unit


@pytest.fixture(scope="module")
def ddb(sandbox):
    client = sandbox.session("sandbox-main").client("dynamodb")
    name = f"capacity-{uuid4().hex[:6]}"
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    for n in range(10):
        client.put_item(TableName=name, Item={"pk": {"S": f"i{n}"}, "body": {"S": "x" * BODY}})
    yield client, name
    client.delete_table(TableName=name)


def _units(page):
    return page["ConsumedCapacity"]["CapacityUnits"]


def test_scan_costs_the_page_read_before_the_filter(ddb):
    client, name = ddb
    total = 10 * SMALL_SIZE  # 10080 bytes: three 4 KB units
    assert total == 10080
    page = client.scan(TableName=name, ReturnConsumedCapacity="TOTAL")
    assert _units(page) == 1.5  # eventually consistent: half of 3
    assert _units(client.scan(TableName=name, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")) == 3.0
    filtered = client.scan(TableName=name, FilterExpression="pk = :none", ReturnConsumedCapacity="TOTAL",
                           ExpressionAttributeValues={":none": {"S": "none"}})
    assert filtered["Count"] == 0 and _units(filtered) == 1.5  # the filter saves nothing
    limited = client.scan(TableName=name, Limit=4, ReturnConsumedCapacity="TOTAL")
    assert _units(limited) == 0.5  # 4 × 1008 = 4032 bytes: one unit
    indexes = client.scan(TableName=name, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert indexes == {"TableName": name, "CapacityUnits": 1.5, "Table": {"CapacityUnits": 1.5}}


def test_query_and_get_item_cost_their_items(ddb):
    client, name = ddb
    client.put_item(TableName=name, Item={"pk": {"S": "big"}, "blob": {"S": "y" * 5000}})
    assert math.ceil(BIG_SIZE / 4096) == 2
    key = {"pk": {"S": "big"}}
    assert _units(client.get_item(TableName=name, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")) == 2.0
    assert _units(client.get_item(TableName=name, Key=key, ReturnConsumedCapacity="TOTAL")) == 1.0
    # a projection returns less but costs the whole item, as in AWS
    assert _units(client.get_item(TableName=name, Key=key, ProjectionExpression="pk",
                                  ReturnConsumedCapacity="TOTAL")) == 1.0
    assert _units(client.get_item(TableName=name, Key={"pk": {"S": "nothing"}}, ReturnConsumedCapacity="TOTAL")) == 0.5
    query = client.query(TableName=name, KeyConditionExpression="pk = :k", ConsistentRead=True,
                         ExpressionAttributeValues={":k": {"S": "big"}}, ReturnConsumedCapacity="TOTAL")
    assert query["Count"] == 1 and _units(query) == 2.0
    client.delete_item(TableName=name, Key=key)


def test_batch_get_item_costs_each_item(ddb):
    client, name = ddb
    keys = [{"pk": {"S": "i0"}}, {"pk": {"S": "i1"}}, {"pk": {"S": "i2"}}]  # 1008 bytes each: 1 unit each
    answer = client.batch_get_item(RequestItems={name: {"Keys": keys, "ConsistentRead": True}},
                                   ReturnConsumedCapacity="TOTAL")
    assert answer["ConsumedCapacity"] == [{"TableName": name, "CapacityUnits": 3.0}]
    answer = client.batch_get_item(RequestItems={name: {"Keys": keys}}, ReturnConsumedCapacity="TOTAL")
    assert answer["ConsumedCapacity"] == [{"TableName": name, "CapacityUnits": 1.5}]
    assert "ConsumedCapacity" not in client.batch_get_item(RequestItems={name: {"Keys": keys}})


def test_index_reads_are_reported_per_index_and_eventually_consistent(sandbox):
    client = sandbox.session("sandbox-main").client("dynamodb")
    page = client.query(TableName="orders", IndexName="by_status", Limit=5, ReturnConsumedCapacity="INDEXES",
                        KeyConditionExpression="#s = :s", ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":s": {"S": "SHIPPED"}})
    assert page["Count"] == 5  # five orders of a few hundred bytes: one 4 KB unit, halved
    assert page["ConsumedCapacity"] == {"TableName": "orders", "CapacityUnits": 0.5, "Table": {"CapacityUnits": 0.0},
                                        "GlobalSecondaryIndexes": {"by_status": {"CapacityUnits": 0.5}}}
