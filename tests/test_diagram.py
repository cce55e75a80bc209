"""`plan --diagram`: the grant as a Mermaid flowchart, from real plans computed on the sandbox."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import uuid4

import pytest
import yaml

from xacct_nb.cli import main as cli_main
from xacct_nb.diagram import diagram, markdown
from xacct_nb.provisioning import apply, destroy, plan
from xacct_nb.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
# orders and customers: payments stays ungranted, and ledger's customer-managed key is left out
# (resource_policy mode names the key-policy statement to add, it never writes it).
BASE["table_access_list"] = [t for t in BASE["table_access_list"] if t["table_name"] in ("orders", "customers")]


@pytest.fixture(scope="module")
def aws(sandbox):
    return {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}


def classes(text: str) -> dict[str, set[str]]:
    return {m[2]: set(m[1].split(",")) for m in re.finditer(r"^  class (\S+) (\w+)$", text, re.M)}


def test_role_mode_shows_principal_role_and_tables_with_levels_and_new_nodes(aws):
    spec = parse_spec({**BASE, "env": f"d{uuid4().hex[:6]}"})
    text = diagram(plan(spec, **aws))
    assert text.startswith("flowchart LR\n")
    assert f'G["role {spec.role_name}"]' in text
    assert 'P0 -->|"sts:AssumeRole"| G' in text
    assert 'G -->|"Read"| T0' in text and 'G -->|"ReadWriteUpdate"| T1' in text
    assert "resource policy" not in text
    assert classes(text)["create"] >= {"G", "T0", "T1", "P0"}
    assert markdown(plan(spec, **aws)).startswith("```mermaid\nflowchart LR\n")


def test_switching_to_resource_policy_shows_both_halves(aws):
    role_spec = parse_spec({**BASE, "env": f"d{uuid4().hex[:6]}"})
    spec = parse_spec({**role_spec.to_dict(), "grant_mode": "resource_policy"})
    apply(role_spec, yes=True, wait=False, **aws)
    try:
        text = diagram(plan(spec, **aws))
        assert 'P0 -->|"Read"| R0 --> T0' in text and "resource policy of orders" in text
        assert classes(text)["create"] >= {"R0", "R1"}
        assert classes(text)["delete"] == {"G"}  # the role that goes; the tables stay
        apply(spec, yes=True, wait=False, **aws)
        settled = diagram(plan(spec, **aws))
        assert "role " not in settled and not classes(settled)  # nothing changes: nothing highlighted
    finally:
        destroy(spec, yes=True, **aws)


def test_cli_plan_diagram_prints_only_mermaid(capsys, sandbox):
    assert cli_main(["plan", "--params", str(ROOT / "params" / "local.yaml"), "--diagram"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart LR\n") and "Plan " not in out
