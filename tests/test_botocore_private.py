"""Every boto3/botocore internal the package uses is listed in xacct_nb._botocore_private, still
exists in the installed botocore, and is used nowhere else."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import re
from pathlib import Path

import boto3
import pytest
from botocore.credentials import AssumeRoleCredentialFetcher, Credentials, RefreshableCredentials

import xacct_nb
from xacct_nb._botocore_private import PRIVATE_USES, botocore_session, credential_expiry

EXPIRY = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _fetcher() -> AssumeRoleCredentialFetcher:
    return AssumeRoleCredentialFetcher(client_creator=lambda *a, **k: None, source_credentials=Credentials("a", "b"),
                                       role_arn="arn:aws:iam::111111111111:role/r",
                                       extra_args={"ExternalId": "x", "RoleSessionName": "s"})


def _role_credentials() -> RefreshableCredentials:
    return RefreshableCredentials.create_from_metadata(
        {"access_key": "a", "secret_key": "b", "token": "t", "expiry_time": EXPIRY.isoformat()},
        refresh_using=_fetcher().fetch_credentials, method="assume-role")


INSTANCES = {  # a real object of each owner, made the way the package gets one
    "boto3.session.Session": lambda: boto3.Session(aws_access_key_id="a", aws_secret_access_key="b",
                                                   region_name="us-east-1"),
    "botocore.credentials.RefreshableCredentials": _role_credentials,
    "botocore.credentials.AssumeRoleCredentialFetcher": _fetcher,
}


def _owner(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("use", PRIVATE_USES, ids=[f"{u.owner}.{u.attribute}" for u in PRIVATE_USES])
def test_each_private_use_still_exists_in_the_installed_botocore(use):
    owner = _owner(use.owner)
    if use.kind == "instance attribute":
        assert hasattr(INSTANCES[use.owner](), use.attribute)
    else:
        assert callable(getattr(owner, use.attribute))
    if use.kind == "behaviour":  # the merge rawpages relies on
        assert "parsed_response.update(customized_response_dict)" in inspect.getsource(
            getattr(owner, use.attribute))


def test_the_accessors_read_what_they_say():
    session = INSTANCES["boto3.session.Session"]()
    assert botocore_session(session).get_config_variable("region") == "us-east-1"
    role = _role_credentials()
    assert credential_expiry(role) == EXPIRY and credential_expiry(Credentials("a", "b")) is None


def test_no_other_module_reaches_into_botocore():
    names = "|".join(re.escape(u.attribute) for u in PRIVATE_USES if u.kind != "behaviour")
    pattern = re.compile(rf"(?<!self)\.(?:{names})\b|[\"'](?:{names})[\"']")
    package = Path(xacct_nb.__file__).parent
    offenders = [f"{path.relative_to(package)}:{n}" for path in package.rglob("*.py")
                 if path.name != "_botocore_private.py" and "sandbox" not in path.parts
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line.split("#")[0])]
    assert offenders == []
