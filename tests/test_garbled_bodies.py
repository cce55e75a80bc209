"""Damaged Scan/Query bodies (cut short or altered, with or without DynamoDB's x-amz-crc32
header) are resent like botocore resends a CRC32 mismatch, a bounded number of times, and then
fail with one line — never decoded into a short or wrong page.

The HTTP layer of an ordinary client answers from a list (fake_client); the fault proxy tests
(test_faults.py) do the same through real sockets in front of moto and dynalite.
"""

from __future__ import annotations

import pytest
from raw_items import scan_page

from arrow_read import read_arrow
from test_dynamo_convert import CRC_OK, PAGE_BODY, fake_client
from xacct_nb.dynamo import rawpages
from xacct_nb.dynamo.rawpages import GarbledBody, decoded_body, page_body

CUT = PAGE_BODY[: len(PAGE_BODY) - 9]  # a body a middlebox cut short (and re-framed)
CUT_AT_BRACE = PAGE_BODY[: PAGE_BODY.index(b"}}") + 2]  # ends with "}", still not whole
FLIPPED = PAGE_BODY.replace(b'"a"', b'"b"')  # same length, still JSON: only the CRC shows it


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """The waits before resends (botocore's loop and the decoder's), recorded, not slept."""
    delays: list[float] = []
    monkeypatch.setattr("botocore.endpoint.time.sleep", delays.append)
    monkeypatch.setattr(rawpages.time, "sleep", delays.append)
    return delays


@pytest.mark.parametrize("damaged", [CUT, CUT_AT_BRACE, b"", b"[1]"])
def test_a_damaged_body_without_crc_is_resent(damaged, no_backoff):
    client, calls = fake_client([(200, {}, damaged), (200, {}, PAGE_BODY)])
    page = scan_page(client, TableName="t")
    assert len(calls) == 2 and page["Count"] == 1 and len(page["Items"]) == 1
    assert len(no_backoff) == 1 and no_backoff[0] <= 0.05


@pytest.mark.parametrize("damaged", [CUT, CUT_AT_BRACE])
def test_the_arrow_path_resends_a_body_it_cannot_decode(damaged):
    client, calls = fake_client([(200, {}, damaged), (200, {}, PAGE_BODY)])
    table = read_arrow(client, "scan", TableName="t")
    assert len(calls) == 2 and table.num_rows == 1 and table.column("pk").to_pylist() == ["a"]


def test_a_crc_mismatch_is_resent_even_when_the_damage_is_valid_json():
    client, calls = fake_client([(200, CRC_OK, FLIPPED), (200, CRC_OK, PAGE_BODY)])
    assert page_body(client, "scan", TableName="t") == PAGE_BODY and len(calls) == 2


@pytest.mark.parametrize(("headers", "body"), [({}, CUT), (CRC_OK, FLIPPED), (CRC_OK, CUT)])
def test_still_damaged_after_every_attempt_fails_with_one_line(headers, body):
    client, calls = fake_client([(200, headers, body)] * 3)
    with pytest.raises(GarbledBody) as err:
        page_body(client, "scan", TableName="t")
    # botocore's standard mode alone returned the last CRC-mismatched body as a success
    assert len(calls) == 3  # the client's total_max_attempts
    message = str(err.value)
    assert "\n" not in message and "3 times" in message and "dynamodb:Scan" in message


def test_a_decoder_failure_on_a_body_whose_crc_matched_is_not_resent():
    """The server's own bytes: resending cannot help, and the decoder's error is the truth."""
    client, calls = fake_client([(200, CRC_OK, PAGE_BODY)] * 3)

    def refuse(body: bytes):
        raise ValueError("decoder says no")

    with pytest.raises(ValueError, match="decoder says no"):
        decoded_body(client, "scan", refuse, TableName="t")
    assert len(calls) == 1
    client, calls = fake_client([(200, {}, PAGE_BODY)] * 3)  # no CRC: could be transit damage
    with pytest.raises(GarbledBody, match="decoder says no"):
        decoded_body(client, "scan", refuse, TableName="t")
    assert len(calls) == 3


GOT_ITEM = b'{"Item":{"pk":{"S":"a"}}}'
BATCH = b'{"Responses":{"t":[{"pk":{"S":"a"}}]},"UnprocessedKeys":{}}'


@pytest.mark.parametrize(("operation", "params", "whole"), [
    ("get_item", {"TableName": "t", "Key": {"pk": {"S": "a"}}}, GOT_ITEM),
    ("batch_get_item", {"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}]}}}, BATCH),
    ("describe_table", {"TableName": "t"}, b'{"Table":{"TableName":"t"}}'),
])
def test_every_call_of_the_client_resends_a_cut_body(operation, params, whole):
    """botocore alone parses a cut 200 body into an empty result: no Item (the key looks absent),
    a BatchGetItem without its items and without UnprocessedKeys, a DescribeTable without Table."""
    client, calls = fake_client([(200, {}, whole[:-3]), (200, {}, whole)])
    rawpages.enable_raw_pages(client)
    result = getattr(client, operation)(**params)
    assert len(calls) == 2 and {k: v for k, v in result.items() if k != "ResponseMetadata"}
    client, calls = fake_client([(200, {}, whole[:-3])] * 3)
    rawpages.enable_raw_pages(client)
    with pytest.raises(GarbledBody) as err:
        getattr(client, operation)(**params)
    assert len(calls) == 3 and "\n" not in str(err.value)


def test_an_empty_body_is_whole_where_the_operation_answers_with_none():
    """DynamoDB answers TagResource with an empty 200 body: that is not damage."""
    client, calls = fake_client([(200, {}, b"")])
    rawpages.enable_raw_pages(client)
    client.tag_resource(ResourceArn="arn:aws:dynamodb:us-east-1:111111111111:table/t",
                        Tags=[{"Key": "k", "Value": "v"}])
    assert len(calls) == 1
