"""Demo tables for the sandbox's main account.

Deterministic (seeded RNG), in DynamoDB's wire format so they go straight to BatchWriteItem. The
`orders` table exercises every type a reader must handle: strings (empty, unicode), numbers of
varied precision and beyond 2**53, booleans, NULL, string/number/binary sets, binary, nested maps
and lists, attributes missing from some items, and reserved words as names (`status`, `name`).
`ledger` is encrypted with a customer-managed KMS key whose policy is AWS's default (the account
root, i.e. the account's IAM policies decide): reading it needs `kms:Decrypt` on that key.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

STATUSES = ("PENDING", "SHIPPED", "DELIVERED", "CANCELLED")
CITIES = ("Kyiv", "Lisboa", "München", "São Paulo", "東京", "Zürich")

# name -> (key schema, attribute definitions, GSIs); PAY_PER_REQUEST like most real tables.
TABLES: dict[str, dict[str, Any]] = {
    "orders": {
        "KeySchema": [{"AttributeName": "customer_id", "KeyType": "HASH"},
                      {"AttributeName": "order_id", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "customer_id", "AttributeType": "S"},
                                 {"AttributeName": "order_id", "AttributeType": "S"},
                                 {"AttributeName": "status", "AttributeType": "S"},
                                 {"AttributeName": "created_at", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{
            "IndexName": "by_status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                          {"AttributeName": "created_at", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    },
    "customers": {
        "KeySchema": [{"AttributeName": "customer_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "customer_id", "AttributeType": "S"}],
    },
    # Number keys: the explorer and the grammar type key text by the key (007 is 7 here).
    "payments": {
        "KeySchema": [{"AttributeName": "payment_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "payment_id", "AttributeType": "N"}],
    },
    # Deliberately NOT granted by params/local.yaml: verification proves it stays unreachable.
    "payroll": {
        "KeySchema": [{"AttributeName": "employee_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "employee_id", "AttributeType": "S"}],
    },
    # Encrypted with a customer-managed key (created by seed_tables): the KMS case of issue 13.
    "ledger": {
        "KeySchema": [{"AttributeName": "entry_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "entry_id", "AttributeType": "S"}],
    },
}
CUSTOMER_MANAGED_KEY_TABLES = frozenset({"ledger"})


def default_key_policy(account_id: str) -> str:
    """AWS's default key policy: the account root, so the account's IAM policies decide."""
    return json.dumps({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "kms:*", "Resource": "*"}]})


def customer_id(i: int) -> str:
    return f"C{i:04d}"


def order_item(rng: random.Random, n: int, customers: int) -> dict[str, Any]:
    day = 1 + n % 28
    item: dict[str, Any] = {
        "customer_id": {"S": customer_id(n % customers)},
        "order_id": {"S": f"O{n:06d}"},
        "status": {"S": STATUSES[n % len(STATUSES)]},
        "created_at": {"S": f"2026-{1 + n % 12:02d}-{day:02d}T{n % 24:02d}:00:00Z"},
        # varied precision on purpose: awswrangler cannot merge decimal128(5,3) with (6,3)
        "amount": {"N": str(round(rng.uniform(1, 5000), rng.choice((0, 1, 2, 3))))},
        "quantity": {"N": str(rng.randint(1, 20))},
        "express": {"BOOL": rng.random() < 0.3},
        "shipping": {"M": {"city": {"S": rng.choice(CITIES)},
                           "zip": {"S": f"{rng.randint(0, 99999):05d}"},
                           "weight_kg": {"N": str(round(rng.uniform(0.1, 30), 2))}}},
        "lines": {"L": [{"M": {"sku": {"S": f"SKU-{rng.randint(1, 500)}"},
                               "qty": {"N": str(rng.randint(1, 5))}}}
                        for _ in range(rng.randint(1, 3))]},
    }
    if n % 5 == 0:
        item["tags"] = {"SS": sorted({rng.choice(("gift", "vip", "fragile", "bulk")) for _ in range(2)})}
    if n % 7 == 0:
        item["lucky_numbers"] = {"NS": sorted({str(rng.randint(1, 99)) for _ in range(3)})}
    if n % 11 == 0:
        item["signature"] = {"B": rng.randbytes(16)}  # raw bytes: boto3 base64-encodes them once
    if n % 13 == 0:
        item["note"] = {"NULL": True}
    elif n % 13 == 1:
        item["note"] = {"S": ""}  # empty strings are legal in non-key attributes
    if n % 97 == 0:
        item["ledger_ref"] = {"N": str(2**63 + n)}  # past int64 and 2**53: must not lose precision
    return item


def customer_item(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "customer_id": {"S": customer_id(i)},
        "name": {"S": rng.choice(("Olena", "João", "Mia", "Kenji", "Ada", "Noor")) + f" #{i}"},
        "tier": {"S": rng.choice(("basic", "gold", "platinum"))},
        "balance": {"N": f"{rng.uniform(-100, 10000):.2f}"},
        "active": {"BOOL": rng.random() < 0.8},
    }


def payment_item(rng: random.Random, i: int) -> dict[str, Any]:
    return {"payment_id": {"N": str(1001 + i)}, "amount": {"N": f"{rng.uniform(1, 900):.2f}"},
            "card_last4": {"S": f"{rng.randint(0, 9999):04d}"}}


def payroll_item(rng: random.Random, i: int) -> dict[str, Any]:
    return {"employee_id": {"S": f"E{i:04d}"}, "salary": {"N": str(rng.randint(30_000, 90_000))}}


def ledger_item(rng: random.Random, i: int) -> dict[str, Any]:
    return {"entry_id": {"S": f"L{i:05d}"}, "account": {"S": f"ACC-{rng.randint(1, 9):02d}"},
            "amount": {"N": f"{rng.uniform(-500, 500):.2f}"},
            "booked_at": {"S": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"}}


def items(table: str, count: int, customers: int = 50, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{seed}-{table}")
    for n in range(count):
        if table == "orders":
            yield order_item(rng, n, customers)
        elif table == "customers":
            yield customer_item(rng, n)
        elif table == "ledger":
            yield ledger_item(rng, n)
        elif table == "payroll":
            yield payroll_item(rng, n)
        else:
            yield payment_item(rng, n)


# Exports need point-in-time recovery: on for orders (the export demo), off elsewhere (so a plan
# with an export section shows the warning and its fix).
PITR_TABLES = ("orders",)
# The consumer account's bucket for DynamoDB exports (params/local.yaml's export section).
EXPORT_BUCKET = "xacct-sandbox-exports"


def seed_export_bucket(s3) -> None:
    """The export bucket, made with an S3 client of the consumer account."""
    s3.create_bucket(Bucket=EXPORT_BUCKET)


def seed_tables(client, counts: dict[str, int], customers: int = 50, kms=None) -> None:
    """Create the demo tables with a low-level DynamoDB client of the main account and fill them;
    `kms` (a KMS client of the same account) creates the key of the encrypted tables."""
    for name, count in counts.items():
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **TABLES[name],
                            **_encryption(name, kms))
        batch: list[dict[str, Any]] = []
        for item in items(name, count, customers=customers):
            batch.append({"PutRequest": {"Item": item}})
            if len(batch) == 25:  # BatchWriteItem's limit
                client.batch_write_item(RequestItems={name: batch})
                batch = []
        if batch:
            client.batch_write_item(RequestItems={name: batch})
        if name in PITR_TABLES:
            client.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})


def _encryption(table: str, kms) -> dict[str, Any]:
    """SSESpecification for a table that uses a customer-managed key (a new key per table)."""
    if table not in CUSTOMER_MANAGED_KEY_TABLES:
        return {}
    if kms is None:
        raise ValueError(f"table {table} is encrypted with a customer-managed key: pass kms=")
    key = kms.create_key(Description=f"xacct-nb sandbox: encrypts table {table}")["KeyMetadata"]
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                       Policy=default_key_policy(key["AWSAccountId"]))
    kms.create_alias(AliasName=f"alias/xacct-sandbox-{table}", TargetKeyId=key["KeyId"])
    return {"SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key["Arn"]}}
