"""The sandbox's control endpoints (`/moto-api/*`) need its token; readiness is a signed call.

Stock moto serves `GET /moto-api/data.json` (every account's access keys and secrets) and
`POST /moto-api/reset-auth` (enforcement off) to anyone who can reach the port.
"""

from __future__ import annotations

import json
import logging
import stat
import urllib.error
import urllib.request

import pytest

from xacct_nb.sandbox import CONTROL_HEADER, health_problem


def _status(url: str, data: bytes | None = None, token: str | None = None) -> int:
    headers = {"Content-Type": "application/octet-stream"}
    if token is not None:
        headers[CONTROL_HEADER] = token
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.parametrize("path, body", [
    ("/moto-api/data.json", None), ("/moto-api/reset-auth", b"inf"), ("/moto-api/reset", b""),
    ("/moto-api/", None), ("//moto-api/data.json", None), ("/moto-api/seed?a=42", b""),
])
@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_control_endpoints_refuse_requests_without_the_token(sandbox, path, body, token):
    assert _status(sandbox.endpoint_url + path, body, token) == 403


def test_a_refused_reset_auth_leaves_enforcement_on(sandbox):
    from botocore.exceptions import ClientError

    assert _status(sandbox.endpoint_url + "/moto-api/reset-auth", b"inf") == 403
    with pytest.raises(ClientError) as denied:  # the analyst has no permission of its own
        sandbox.session("sandbox-analyst").client("dynamodb").describe_table(TableName="orders")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"


def test_the_sandbox_token_opens_them_and_lives_in_a_0600_file(sandbox):
    token_file = sandbox.control_token_file
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 40
    # reset-auth with 0 keeps enforcement on ("enforce from now"); data.json would also open, but
    # its answer depends on moto serialising whatever earlier tests left (it can 500 on that)
    assert _status(sandbox.endpoint_url + "/moto-api/reset-auth", b"0", token=token) == 200
    assert _status(sandbox.endpoint_url + "/moto-api/reset-auth", b"0", token=token + "x") == 403
    # the token is nowhere else in the sandbox's (world-readable) files
    for name in ("sandbox.json", "config"):
        assert token not in (sandbox.state_dir / name).read_text()
    assert "control_token" not in json.loads((sandbox.state_dir / "sandbox.json").read_text())


def test_health_check_is_a_signed_call_and_logs_no_traceback(sandbox, caplog):
    with caplog.at_level(logging.DEBUG, logger="werkzeug"):
        assert health_problem(sandbox.state_dir, sandbox.endpoint_url) is None
        # a bare GET (what the health check used to be) is refused as AWS refuses unsigned
        # requests, without the KeyError 'HTTP_AUTHORIZATION' traceback moto logs for it
        assert _status(sandbox.endpoint_url + "/") == 403
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def test_health_check_names_what_is_wrong(sandbox, tmp_path):
    assert "profiles are missing" in health_problem(tmp_path, sandbox.endpoint_url)
    dead = "http://127.0.0.1:9"  # discard port: nothing listens on loopback there
    assert health_problem(sandbox.state_dir, dead) == f"{dead} does not answer"


def test_lab_finds_the_running_sandbox_with_a_signed_call(sandbox, caplog):
    from xacct_nb.cli_support import sandbox_env

    with caplog.at_level(logging.DEBUG, logger="werkzeug"):
        env = sandbox_env(str(sandbox.state_dir))  # what `xacct-nb lab --sandbox` runs first
    assert env["AWS_CONFIG_FILE"] == str(sandbox.config_file)
    assert not [r for r in caplog.records if r.exc_info]
