"""`xacct-nb apply` and `destroy`, SIGKILLed right after an IAM write, converge on the re-run:
no orphan, no duplicate.

The CLI runs in a child process whose profiles reach the sandbox through the fault proxy
(tests/faultproxy.py, no faults injected). The proxy sees each IAM write the sandbox answered and
kills the child *before* relaying the answer (the write happened; the child never learned it) —
or, in the soak, just after relaying it. A chain of runs, each killed at its first write, kills
the tool once after every write of the whole apply (and destroy); the last run has nothing left
to write, completes, and the live state must be exactly the spec's (or nothing of it).

`make soak` (XACCT_KILL_MATRIX=1) also kills at every write number counted from a fresh start,
in both modes, with the two-table spec.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from uuid import uuid4

import pytest
import yaml

from faultproxy import FaultProxy, proxied_config
from xacct_nb.provisioning import plan, plan_destroy
from xacct_nb.spec import AccessSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
MATRIX = os.environ.get("XACCT_KILL_MATRIX", "") not in ("", "0")
MAX_RUNS = 20


class Killer:
    """The proxy's on_write: SIGKILL the current child at its `at`-th IAM write."""

    def __init__(self, relayed: bool):
        self.relayed = relayed
        self.lock = threading.Lock()
        self.child: subprocess.Popen | None = None
        self.at = 1
        self.writes: list[str] = []
        self.killed: list[str] = []

    def arm(self, child: subprocess.Popen, at: int) -> None:
        with self.lock:
            self.child, self.at, self.writes = child, at, []

    def __call__(self, action: str, relayed: bool) -> None:
        with self.lock:
            if relayed != self.relayed or self.child is None:
                return
            self.writes.append(action)
            if len(self.writes) == self.at:
                # a process with SIGKILL pending never runs again: it cannot read the answer
                self.child.send_signal(signal.SIGKILL)
                self.killed.append(action)
                self.child = None


@pytest.fixture
def cli_env(sandbox, tmp_path):
    proxy = FaultProxy(sandbox.endpoint_url)
    endpoint = proxy.start()
    config = proxied_config(sandbox.config_file, sandbox.endpoint_url, endpoint,
                            tmp_path / "config")
    env = {**os.environ, **sandbox.env, "AWS_CONFIG_FILE": str(config), "XACCT_NB_QUIET": "1"}
    yield proxy, env
    proxy.stop()


def params_file(folder: Path, tables: list[dict]) -> tuple[Path, AccessSpec]:
    env = f"k{uuid4().hex[:6]}"
    path = folder / f"{env}.yaml"
    path.write_text(yaml.safe_dump({**BASE, "env": env, "table_access_list": tables}))
    return path, load_spec(path)


def run(command: str, params: Path, env: dict, killer: Killer, at: int) -> int | None:
    """The CLI command, killed at its `at`-th IAM write; None if it was killed."""
    child = subprocess.Popen([sys.executable, "-m", "xacct_nb.cli", command, "--params",
                              str(params), "--yes"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    killer.arm(child, at)
    out, err = child.communicate(timeout=180)
    if child.returncode == -signal.SIGKILL:
        return None
    assert child.returncode == 0, f"{command} exit {child.returncode}: {err.strip()[-500:]}"
    return child.returncode


def assert_applied_exactly(sandbox, spec: AccessSpec) -> None:
    """The live state is the spec's: nothing to change, and no second copy of anything."""
    assert not plan(spec).has_changes, plan(spec).changes
    main_iam = sandbox.session("sandbox-main").client("iam")
    ours = [p for p in main_iam.list_policies(Scope="Local")["Policies"]
            if p["PolicyName"].startswith(spec.table_policy_name(""))]
    assert sorted(p["PolicyName"] for p in ours) == sorted(
        spec.table_policy_name(t) for t in spec.table_names)
    for policy in ours:  # a killed re-run must not have left a second version behind
        assert len(main_iam.list_policy_versions(PolicyArn=policy["Arn"])["Versions"]) == 1
    attached = main_iam.list_attached_role_policies(RoleName=spec.role_name)["AttachedPolicies"]
    assert sorted(p["PolicyArn"] for p in attached) == sorted(p["Arn"] for p in ours)
    consumer_iam = sandbox.session("sandbox-consumer").client("iam")
    versions = consumer_iam.list_policy_versions(PolicyArn=spec.consumer_policy_arn)["Versions"]
    assert len(versions) == 1


def assert_destroyed(sandbox, spec: AccessSpec) -> None:
    """Nothing of the spec is left in either account (no orphan)."""
    assert not plan_destroy(spec).has_changes, plan_destroy(spec).changes
    main_iam = sandbox.session("sandbox-main").client("iam")
    assert not any(r["RoleName"] == spec.role_name for r in main_iam.list_roles()["Roles"])
    prefix = spec.table_policy_name("")
    assert not [p for p in main_iam.list_policies(Scope="Local")["Policies"]
                if p["PolicyName"].startswith(prefix)]
    consumer_iam = sandbox.session("sandbox-consumer").client("iam")
    assert not [p for p in consumer_iam.list_policies(Scope="Local")["Policies"]
                if p["Arn"] == spec.consumer_policy_arn]
    user = spec.consumer_principal.rsplit("/", 1)[-1]
    attached = consumer_iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert spec.consumer_policy_arn not in {p["PolicyArn"] for p in attached}


def report(line: dict) -> None:
    print(json.dumps(line))
    if os.environ.get("XACCT_FAULT_REPORT"):
        with open(os.environ["XACCT_FAULT_REPORT"], "a") as fh:
            fh.write(json.dumps(line) + "\n")


def kill_chain(command: str, params: Path, env: dict, killer: Killer) -> list[str]:
    """Runs of `command`, each killed at its first IAM write, until one has none left to do."""
    for _ in range(MAX_RUNS):
        if run(command, params, env, killer, at=1) is not None:
            return killer.killed
    raise AssertionError(f"{command} did not converge in {MAX_RUNS} killed runs: {killer.killed}")


def test_apply_and_destroy_killed_after_each_iam_write_converge(sandbox, cli_env, tmp_path):
    proxy, env = cli_env
    params, spec = params_file(tmp_path, [{"table_name": "orders", "access_type": "Read"}])
    killer = Killer(relayed=False)
    proxy.on_write = killer
    try:
        applied = kill_chain("apply", params, env, killer)
        # role, table policy, its attachment, consumer policy, its attachment: each killed once
        assert len(applied) >= 5 and len(set(applied)) >= 3, applied
        assert_applied_exactly(sandbox, spec)
        killer.killed = []
        destroyed = kill_chain("destroy", params, env, killer)
        assert len(destroyed) >= 5, destroyed
        assert_destroyed(sandbox, spec)
        report({"kills": "chain, before the answer", "killed runs converged":
                len(applied) + len(destroyed), "apply killed after": applied,
                "destroy killed after": destroyed})
    finally:
        proxy.on_write = None
        subprocess.run([sys.executable, "-m", "xacct_nb.cli", "destroy", "--params", str(params),
                        "--yes"], env={**os.environ, **sandbox.env}, capture_output=True,
                       timeout=180)


@pytest.mark.skipif(not MATRIX, reason="the kill matrix is the soak's (make soak)")
@pytest.mark.parametrize("relayed", [False, True], ids=["before-answer", "after-answer"])
def test_kill_matrix_every_write_from_a_fresh_start(sandbox, cli_env, tmp_path, relayed):
    proxy, env = cli_env
    params, spec = params_file(tmp_path, BASE["table_access_list"])
    killer = Killer(relayed=relayed)
    proxy.on_write = killer
    converged = 0
    try:
        for at in range(1, MAX_RUNS):
            apply_killed = run("apply", params, env, killer, at=at) is None
            if apply_killed:
                assert run("apply", params, env, killer, at=10**6) == 0
                converged += 1
            assert_applied_exactly(sandbox, spec)
            destroy_killed = run("destroy", params, env, killer, at=at) is None
            if destroy_killed:
                assert run("destroy", params, env, killer, at=10**6) == 0
                converged += 1
            assert_destroyed(sandbox, spec)
            if not apply_killed and not destroy_killed:
                break  # fewer than `at` writes in both: every kill point is done
        report({"kills": f"matrix, {'after' if relayed else 'before'} the answer",
                "killed runs converged": converged})
        assert converged >= 10
    finally:
        proxy.on_write = None
        subprocess.run([sys.executable, "-m", "xacct_nb.cli", "destroy", "--params", str(params),
                        "--yes"], env={**os.environ, **sandbox.env}, capture_output=True,
                       timeout=180)
