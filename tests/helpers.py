"""Shared test helpers: IAM documents, ARNs, profile files, and one factory for the usual
test world (roles in the main account + a consumer user allowed to assume them + its profile).

Imported as ``from helpers import ...`` (pytest puts tests/ on sys.path via conftest.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.session
import pytest

MAIN, CONSUMER, OUTSIDER = "111111111111", "222222222222", "333333333333"
REGION = "us-east-1"


def doc(*statements: dict) -> str:
    """A policy document as IAM takes it (JSON text)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str]) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def trust(principal: str, condition: Mapping[str, Any] | None = None) -> str:
    """A trust policy admitting `principal` to sts:AssumeRole, with the SourceIdentity xacct-nb
    always sends (`condition`: a Condition block)."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": principal},
                                 "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}
    if condition:
        statement["Condition"] = dict(condition)
    return doc(statement)


def role_arn(name: str, account: str = MAIN) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def table_arn(name: str, account: str = MAIN) -> str:
    return f"arn:aws:dynamodb:{REGION}:{account}:table/{name}"


def extra_profile_files(sandbox: Any, folder: Path, profile: str, key: dict) -> dict[str, str]:
    """Copies of the sandbox's config/credentials plus one more profile (an IAM access key of a
    user a test created); the shared files stay untouched. Returns the env vars pointing at them."""
    config, creds = folder / "config", folder / "credentials"
    shutil.copy(sandbox.config_file, config)
    shutil.copy(sandbox.credentials_file, creds)
    with config.open("a") as fh:
        fh.write(f"\n[profile {profile}]\nregion = {REGION}\nendpoint_url = {sandbox.endpoint_url}\n")
    with creds.open("a") as fh:
        fh.write(f"\n[{profile}]\naws_access_key_id = {key['AccessKeyId']}\n"
                 f"aws_secret_access_key = {key['SecretAccessKey']}\n")
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(creds)}


def key_session(sandbox: Any, folder: Path, key: dict) -> boto3.Session:
    """A session for an access key, through config files of its own (the sandbox's stay untouched)."""
    folder.mkdir(parents=True)
    (folder / "config").write_text(f"[profile p]\nregion = {REGION}\nendpoint_url = {sandbox.endpoint_url}\n")
    (folder / "credentials").write_text(f"[p]\naws_access_key_id = {key['AccessKeyId']}\n"
                                        f"aws_secret_access_key = {key['SecretAccessKey']}\n")
    core = botocore.session.Session()
    for name, value in (("config_file", folder / "config"), ("credentials_file", folder / "credentials"),
                        ("profile", "p")):
        core.set_config_variable(name, str(value))
    return boto3.Session(botocore_session=core)


@contextmanager
def consumer_world(sandbox: Any, folder: Path, *, user: str, roles: Mapping[str, tuple[str, str]],
                   assume: str | list[str], env: Mapping[str, str] | None = None) -> Iterator[SimpleNamespace]:
    """The usual world, torn down afterwards: `roles` (name → (trust document, inline policy
    document)) in the main account; consumer user `user` whose identity policy allows
    sts:AssumeRole (with a SourceIdentity) on `assume`; a profile named `user` for its access key in copies of the
    sandbox's config files, which the environment points at (plus `env`) while the world lives."""
    iam_main = sandbox.session("sandbox-main").client("iam")
    iam_consumer = sandbox.session("sandbox-consumer").client("iam")
    for name, (trust_doc, policy_doc) in roles.items():
        iam_main.create_role(RoleName=name, AssumeRolePolicyDocument=trust_doc)
        iam_main.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=policy_doc)
    iam_consumer.create_user(UserName=user)
    iam_consumer.put_user_policy(UserName=user, PolicyName="assume",
                                 PolicyDocument=doc(allow(["sts:AssumeRole", "sts:SetSourceIdentity"], assume)))
    key = iam_consumer.create_access_key(UserName=user)["AccessKey"]
    files_env = extra_profile_files(sandbox, folder, user, key)
    try:
        with pytest.MonkeyPatch.context() as mp:
            for var, value in {**files_env, **(env or {})}.items():
                mp.setenv(var, value)
            yield SimpleNamespace(profile=user, user_arn=f"arn:aws:iam::{CONSUMER}:user/{user}",
                                  roles={name: role_arn(name) for name in roles}, key=key,
                                  files=folder, iam_main=iam_main, iam_consumer=iam_consumer)
    finally:
        for name in roles:
            iam_main.delete_role_policy(RoleName=name, PolicyName="inline")
            iam_main.delete_role(RoleName=name)
        iam_consumer.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
        iam_consumer.delete_user_policy(UserName=user, PolicyName="assume")
        iam_consumer.delete_user(UserName=user)


def read_params(folder: Path, env: str, table: str, profile: str) -> str:
    """A params file granting `table` (Read) to the consumer user `profile`, as its analyst."""
    import yaml

    spec = {"env": env, "region": REGION, "main_account_id": MAIN, "consumer_account_id": CONSUMER,
            "analyst_profile": profile, "consumer_principal": f"arn:aws:iam::{CONSUMER}:user/{profile}",
            "table_access_list": [{"table_name": table, "access_type": "Read"}]}
    path = folder / f"{env}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)
