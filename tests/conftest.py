"""Shared fixtures: one sandbox (moto server on loopback, IAM enforced) for the whole session.

Tests talk to it over HTTP with ordinary boto3 sessions chosen by profile name, exactly like a
user with real accounts; nothing is stubbed.
"""

from __future__ import annotations

import os

import pytest

from xacct_nb.sandbox import Sandbox

# Ambient credentials on a developer's machine must never leak into a test.
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    sb = Sandbox(port=0, state_dir=tmp_path_factory.mktemp("sandbox"))
    sb.start()
    saved = {k: os.environ.get(k) for k in sb.env}
    os.environ.update(sb.env)  # so boto3.Session(profile_name=...) and child processes find it
    yield sb
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    sb.stop()


def extra_profile_files(sandbox, folder, profile: str, key: dict) -> dict[str, str]:
    """Copies of the sandbox's config/credentials plus one more profile (an IAM access key of a
    user a test created); the shared files stay untouched. Returns the env vars pointing at them."""
    import shutil

    config, creds = folder / "config", folder / "credentials"
    shutil.copy(sandbox.config_file, config)
    shutil.copy(sandbox.credentials_file, creds)
    with config.open("a") as fh:
        fh.write(f"\n[profile {profile}]\nregion = us-east-1\nendpoint_url = {sandbox.endpoint_url}\n")
    with creds.open("a") as fh:
        fh.write(f"\n[{profile}]\naws_access_key_id = {key['AccessKeyId']}\n"
                 f"aws_secret_access_key = {key['SecretAccessKey']}\n")
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(creds)}


def key_session(sandbox, folder, key: dict):
    """A session for an access key, through config files of its own (the sandbox's stay untouched)."""
    folder.mkdir(parents=True)
    (folder / "config").write_text(f"[profile p]\nregion = us-east-1\nendpoint_url = {sandbox.endpoint_url}\n")
    (folder / "credentials").write_text(f"[p]\naws_access_key_id = {key['AccessKeyId']}\n"
                                        f"aws_secret_access_key = {key['SecretAccessKey']}\n")
    import boto3
    import botocore.session

    core = botocore.session.Session()
    for name, value in (("config_file", folder / "config"), ("credentials_file", folder / "credentials"),
                        ("profile", "p")):
        core.set_config_variable(name, str(value))
    return boto3.Session(botocore_session=core)
