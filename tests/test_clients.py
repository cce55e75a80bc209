"""One client factory: every AWS client the package makes comes from xacct_nb.clients.make_client
(our retries, our User-Agent). The first test reads the package's source; the second watches
real requests reach the sandbox."""

from __future__ import annotations

import ast
from pathlib import Path

import xacct_nb
from xacct_nb.clients import USER_AGENT_EXTRA, client_config, make_client
from xacct_nb.dynamo import RemoteTable
from xacct_nb.sessions import whoami

SRC = Path(xacct_nb.__file__).parent
FACTORY = SRC / "clients.py"
# `.client(` calls that make no botocore client: our own methods named client, and the session
# subclass that forwards to boto3's (reached only through make_client).
NOT_CLIENTS = {
    "self.client(side)",                        # provisioning.live: the IAM client of one side
    "iam.client(change.side, change.resource, change.account)",  # provisioning.executor: same
    "super().client(*args, **kwargs)",          # dynamo: a boto3.Session subclass's own client()
}


def client_calls_outside_factory() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == FACTORY:
            continue
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"client", "create_client"}):
                segment = ast.get_source_segment(text, node) or ""
                if segment not in NOT_CLIENTS:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: {segment.splitlines()[0]}")
    return found


def test_every_client_comes_from_the_factory():
    assert client_calls_outside_factory() == []


def test_the_scan_sees_a_client_call(tmp_path, monkeypatch):
    # the check itself finds the three ways a client gets made
    (tmp_path / "clients.py").write_text("")
    (tmp_path / "m.py").write_text('import boto3\nboto3.client("s3")\ns.client("sts")\n'
                                   'core.create_client("iam")\nself.client(side)\n')
    monkeypatch.setattr(f"{__name__}.SRC", tmp_path)
    monkeypatch.setattr(f"{__name__}.FACTORY", tmp_path / "clients.py")
    assert [line.split(": ", 1)[1] for line in client_calls_outside_factory()] == [
        'boto3.client("s3")', 's.client("sts")', 'core.create_client("iam")']


def test_config_has_our_retries_user_agent_and_the_callers_settings():
    from botocore.config import Config

    config = client_config("dynamodb", Config(read_timeout=7))
    assert config.user_agent_extra == f"xacct-nb/{xacct_nb.__version__}" == USER_AGENT_EXTRA
    assert config.retries == {"mode": "standard", "total_max_attempts": 10}
    assert config.read_timeout == 7
    assert client_config("sts", attempts=1).retries["total_max_attempts"] == 1


def test_requests_to_the_sandbox_carry_our_user_agent(sandbox):
    session = sandbox.session("sandbox-main")
    agents: list[tuple[str, str]] = []

    def record(request, **_):
        agents.append((request.url, request.headers["User-Agent"].decode()))

    session.events.register("before-send", record)  # copied into every client made afterwards
    whoami(session)                                            # sessions: STS
    RemoteTable(session, "orders").describe()                  # dynamo: DynamoDB
    make_client(session, "iam").list_roles(MaxItems=1)         # the factory itself
    assert len(agents) >= 3
    assert all(f" {USER_AGENT_EXTRA}" in agent for _, agent in agents), agents
