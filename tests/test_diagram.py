"""`plan --diagram`: the grant as a Mermaid flowchart, from real plans computed on the sandbox."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from uuid import uuid4

import nbformat
import pytest
import yaml

from xacct_nb.cli import main as cli_main
from xacct_nb.diagram import Picture, diagram, markdown, picture
from xacct_nb.diagram_svg import render
from xacct_nb.provisioning import apply, destroy, plan
from xacct_nb.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
# orders and customers: payments stays ungranted, and ledger's customer-managed key is left out
# (resource_policy mode writes the key-policy statement only with manage_key_policy).
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


# --- the picture: JupyterLab's Mermaid, the records' SVG -------------------------------------------

def svg_texts(svg: str) -> list[str]:
    """Every text the SVG shows (node labels with their lines joined by spaces, edge labels, the
    legend), and each line on its own."""
    texts = [" ".join(html.unescape(t) for t in re.findall(r"<tspan[^>]*>([^<]*)</tspan>", text))
             for text in re.findall(r"<text[^>]*>(.*?)</text>", svg)]
    return texts + [line for text in re.findall(r"<text[^>]*>(.*?)</text>", svg)
                    for line in re.findall(r"<tspan[^>]*>([^<]*)</tspan>", text)] + \
        re.findall(r'dominant-baseline="central" fill="#1f2937">([^<]+)</text>', svg)


def test_picture_carries_mermaid_for_jupyterlab_and_the_same_graph_as_svg(aws):
    spec = parse_spec({**BASE, "env": f"d{uuid4().hex[:6]}"})
    bundle = picture(plan(spec, **aws))._repr_mimebundle_()
    assert bundle["text/markdown"].startswith("```mermaid\nflowchart LR\n")
    assert "green: created by this plan" in bundle["text/markdown"]  # the highlight explained
    svg = bundle["image/svg+xml"]
    assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    shown = {t.replace(" ", "") for t in svg_texts(svg)}  # a long name may be cut over lines
    for text in ("orders", "customers", f"main {spec.main_account_id}", "Read", "ReadWriteUpdate",
                 "sts:AssumeRole", f"role {spec.role_name}", "created by this plan"):
        assert text.replace(" ", "") in shown, text
    # every node the plan creates is painted as Mermaid's classDef says: green fill, dark green text
    created = re.findall(r'<g class="node create" data-id="(\w+)"><\w+ [^>]*fill="#c6efce"', svg)
    assert set(created) == classes(bundle["text/plain"])["create"]


def test_picture_svg_draws_both_halves_of_a_switch_and_a_kms_key(aws):
    env = f"d{uuid4().hex[:6]}"
    role_spec = parse_spec({**BASE, "env": env})
    apply(role_spec, yes=True, wait=False, **aws)
    try:
        full = parse_spec({**role_spec.to_dict(), "grant_mode": "resource_policy",
                           "table_access_list": [*BASE["table_access_list"],
                                                 {"table_name": "ledger", "access_type": "Read"}]})
        text = diagram(plan(full, **aws))
        svg = render(text)
        shown = {t.replace(" ", "") for t in svg_texts(svg)}
        assert "resourcepolicyofledger" in shown and f"role{role_spec.role_name}" in shown
        assert any(t.startswith("KMSkey") for t in shown) and "kms:DecryptviaDynamoDB" in shown
        assert "removedbythisplan" in shown and 'stroke-dasharray="5"' in svg  # the role that goes
    finally:
        destroy(role_spec, yes=True, **aws)


def test_svg_refuses_what_it_cannot_draw_and_the_picture_then_has_no_svg():
    with pytest.raises(ValueError):
        render("flowchart LR\n  A>\"flag\"]")
    assert "image/svg+xml" not in Picture("flowchart TD\n  A[\"a\"]")._repr_mimebundle_()


def test_html_record_shows_the_svg_offline_not_a_mermaid_script(tmp_path):
    """runbook's HTML exporter prefers the SVG: nbconvert would otherwise make the Mermaid block a
    <pre class="mermaid"> with a script importing mermaid.js from a CDN."""
    from xacct_nb.runbook import _render_html

    mermaid = 'flowchart LR\n  P0(["user/analyst"])\n  T0[("orders")]\n  P0 -->|"Read"| T0'
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("picture(plan)", outputs=[
        nbformat.v4.new_output("display_data", data=Picture(mermaid)._repr_mimebundle_())])]
    path = tmp_path / "record.ipynb"
    nbformat.write(nb, path)
    page = _render_html(path).read_text()
    images = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert len(images) == 1 and "orders" in base64.b64decode(images[0]).decode()
    assert 'class="mermaid"' not in page
    # nor anything else that reaches a CDN when the record is opened (require.js, MathJax, widgets)
    assert "cdnjs.cloudflare.com" not in page and "unpkg.com" not in page
    assert not re.search(r"<script[^>]*\bsrc=\"https?://", page)
