"""`xacct-nb query --saved NAME` (issue 23): a query saved from the explorer panel, run in batch.

The panel is driven in-process (as tests/test_widgets.py does); the CLI runs in a subprocess
against the same sandbox with the grants of params/local.yaml applied (its own env name), and
its rows and status line are compared with the panel's.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pandas as pd
import pytest
import yaml

from xacct_nb.cli import main as cli_main
from xacct_nb.errors import InputError
from xacct_nb.provisioning import apply, destroy
from xacct_nb.saved_queries import load_queries, queries_file_for, run_saved
from xacct_nb.sessions import reading_session
from xacct_nb.spec import load_spec
from xacct_nb.widgets import ExplorerPanel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world(sandbox, tmp_path_factory):
    """params/local.yaml under an env name of its own, applied; the panel on its reading session."""
    folder = tmp_path_factory.mktemp("saved") / "params"
    folder.mkdir()
    env = f"sq{uuid4().hex[:6]}"
    params = folder / f"{env}.yaml"
    params.write_text((ROOT / "params" / "local.yaml").read_text().replace("env: local", f"env: {env}"))
    spec = load_spec(params)
    admins = {"main": sandbox.session("sandbox-main"), "consumer": sandbox.session("sandbox-consumer")}
    apply(spec, yes=True, **admins, progress=lambda _line: None)
    session = reading_session(spec)
    panel = ExplorerPanel(session, spec.read_names, queries_file=queries_file_for(params))
    try:
        yield spec, params, panel, session
    finally:
        destroy(spec, yes=True, **admins)


def _set(panel, table="orders", mode="scan", index="", key="", sort=("", "", ""), filter="",
         projection="", limit=100, statement=""):
    panel.table.value = table
    panel.index.value = index
    panel.mode.value = mode
    panel.key.value = key
    panel.sort_op.value, panel.sort_value.value, panel.sort_value2.value = sort
    panel.filter.value, panel.projection.value = filter, projection
    panel.limit.value, panel.statement.value = limit, statement


# name → the panel's inputs: every mode, an index with a sort range, a filter and columns, number
# keys, the KMS table, a partial result (the row budget), PartiQL
SAVED = {
    "shipped february": dict(mode="query", index="by_status", key="SHIPPED", sort=("begins_with", "2026-02", ""),
                          filter="quantity>3", projection="order_id, quantity, status"),
    "c7 range": dict(mode="query", key="C0007", sort=("between", "O000100", "O000900", )),
    "payments cut": dict(table="payments", limit=7),
    "ledger": dict(table="ledger", limit=1000),
    "partiql c12": dict(mode="partiql", limit=1000,
                        statement='SELECT * FROM "orders" WHERE "customer_id" = \'C0012\''),
}


def _cli(params: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xacct_nb.cli", "query", "--params", str(params), *args],
                          capture_output=True, text=True, timeout=120)


def _shown(status_html: str) -> str:
    """The panel's status line as the CLI prints it: text, without the panel's Load more hint."""
    return html.unescape(re.sub(r"<[^>]+>", "", status_html)).replace("; Load more continues it", "")


def _no_seconds(line: str) -> str:
    return re.sub(r"\d+\.\d\d s\b", "S s", line)


def _keyed(df: pd.DataFrame, keys: list[str]) -> list[dict]:
    return sorted(json.loads(df.to_json(orient="records")), key=lambda row: [str(row.get(k)) for k in keys])


@pytest.mark.parametrize("name", list(SAVED))
def test_a_query_saved_in_the_panel_runs_in_batch_with_the_panels_result(world, name, tmp_path):
    spec, params, panel, _ = world
    _set(panel, **SAVED[name])
    assert panel.run() is not None, panel.error
    panel_line = _shown(panel.status.value)
    assert panel.save(name) is not None, panel.status.value
    # the saved notice comes under the result's line, which stays (complete/partial in view)
    assert _shown(panel.status.value).startswith(panel_line + "saved ")
    shown = panel.result
    keys = list(panel._remote(SAVED[name].get("table", "orders")).describe().key.names)
    assert len(shown) > 0, panel.status.value

    out = tmp_path / "rows.jsonl"
    proc = _cli(params, "--saved", name, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    written = pd.read_json(out, lines=True, dtype=False)
    assert len(written) == len(shown)
    assert _keyed(written[keys], keys) == _keyed(shown[keys], keys)
    assert sorted(written.columns) == sorted(shown.columns)
    line = proc.stderr.strip().splitlines()[-1]
    assert _no_seconds(line) == _no_seconds(panel_line) + f" → {out}", (line, panel_line)
    partial = shown.attrs["xacct"]["partial"]
    assert ("partial (row budget reached)" in line) is partial and ("complete" in line) is not partial

    # without --out: the status line on stderr, every row on stdout
    proc = _cli(params, "--saved", name)
    assert proc.returncode == 0, proc.stderr
    assert _no_seconds(proc.stderr.strip().splitlines()[-1]) == _no_seconds(panel_line)
    printed = proc.stdout.splitlines()
    assert len(printed) == len(shown) + 1  # the header, then one line per row
    for value in shown[keys[-1]].astype(str):
        assert any(value in row for row in printed[1:]), value


def test_the_python_api_runs_the_saved_query_as_the_cli_does(world):
    spec, params, panel, session = world
    _set(panel, **SAVED["c7 range"])
    panel.run()
    panel.save("api c7")
    done = run_saved(session, spec, queries_file_for(params), "api c7")
    assert sorted(done.frame["order_id"]) == sorted(panel.result["order_id"])
    assert done.inputs == load_queries(queries_file_for(params))["api c7"] == panel.inputs()
    assert done.status.startswith(f"{len(panel.result)} rows × ")


def _refused(argv: list[str], capsys) -> str:
    code = cli_main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_an_unknown_name_lists_the_saved_ones_and_the_file(world, capsys):
    _, params, panel, _ = world
    _set(panel, table="customers", limit=5)
    panel.run()
    panel.save("five customers")
    err = _refused(["query", "--params", str(params), "--saved", "five customrs"], capsys)
    assert "'five customrs'" in err and "five customers" in err and str(queries_file_for(params)) in err


def test_conflicting_flags_are_refused_before_anything_runs(world, capsys):
    _, params, _, _ = world
    for flags in (["--table", "customers"], ["--filter", "quantity>1"], ["--limit", "3"],
                  ["--key", "C0001", "--max-rcu", "2"]):
        err = _refused(["query", "--params", str(params), "--saved", "c7 range", *flags], capsys)
        assert all(flag in err for flag in flags if flag.startswith("--")), err
    err = _refused(["query", "--params", str(params), "--table", "orders", "--out", "x.csv"], capsys)
    assert "--key" in err and "--saved" in err


def _hostile(tmp_path: Path, text: str) -> Path:
    params = tmp_path / "params" / "local.yaml"
    params.parent.mkdir()
    params.write_text((ROOT / "params" / "local.yaml").read_text())
    queries_file_for(params).write_text(text)
    return params


@pytest.mark.parametrize("text,needle", [
    ("q:\n  table: orders\nq:\n  table: customers\n", "given twice"),
    ("q:\n  table: orders\n  mode: scan\n  mode: query\n  key: C1\n", "q.mode: is given twice"),
    ("base: &b {table: orders}\nq:\n  <<: *b\n  filter: quantity>1\n", "merge keys"),
    ("q:\n  table: orders\n  filter: quantity >> 5\n", "filter"),
    ("q:\n  table: orders\n  mode: query\n  key: C1\n  sort_op: around\n  sort_value: '3'\n", "sort_op"),
    ("q:\n  table: orders\n  colour: red\n", "unknown field 'colour'"),
    ("q:\n  table: orders\n  limit: 0\n", "limit"),
    ("q: !!python/object/apply:os.system ['touch /tmp/xacct-pwned']\n", "not valid YAML"),
    ("- table: orders\n", "mapping"),
    ("q:\n  table: payroll\n", "payroll, which the spec no longer grants"),
    ("q:\n  table: orders\n  mode: partiql\n  statement: SELECT * FROM \"payroll\"\n", "payroll"),
    ("q:\n  table: [orders\n", "not valid YAML at line"),
])
def test_a_hostile_or_invalid_saved_queries_file_exits_2_with_one_line(tmp_path, capsys, text, needle):
    params = _hostile(tmp_path, text)
    err = _refused(["query", "--params", str(params), "--saved", "q"], capsys)
    assert needle in err and str(queries_file_for(params)) in err, err
    assert not Path("/tmp/xacct-pwned").exists()


def test_the_panel_refuses_the_same_files_with_the_same_function(tmp_path):
    """One loader for both: what the CLI refuses, load_queries (the panel's) refuses too."""
    params = _hostile(tmp_path, "q:\n  table: orders\n  mode: scan\n  mode: query\n")
    with pytest.raises(InputError, match="given twice"):
        load_queries(queries_file_for(params))


def test_env_names_the_params_file(tmp_path, capsys, monkeypatch):
    params = _hostile(tmp_path, yaml.safe_dump({"q": {"table": "orders"}}))
    monkeypatch.chdir(params.parent.parent)
    err = _refused(["query", "--env", "local", "--saved", "nope"], capsys)
    assert "saved: q" in err and "local.queries.yaml" in err
    err = _refused(["query", "--env", "nosuch", "--saved", "q"], capsys)
    assert "params/nosuch.yaml" in err


# -- the status area around saved queries: what is on screen belongs to which Run -------------------

def test_a_result_left_below_changed_inputs_is_dimmed_and_said_until_the_next_run(world):
    _, _, panel, _ = world
    _set(panel, table="orders", limit=5)
    panel.run()
    assert "xacct-stale" not in panel.output._dom_classes
    assert panel.history[-1].partial and "5 rows (partial)" in panel.history_list.options[0][0]
    panel.table.value = "customers"  # a switch: the orders rows stay below, dimmed
    assert "xacct-stale" in panel.output._dom_classes and "previous Run's (dimmed)" in panel.status.value
    panel.limit.value = 100
    panel.run()
    assert "xacct-stale" not in panel.output._dom_classes
    assert "50 rows," in panel.history_list.options[0][0] and not panel.history[-1].partial
    panel.restore(panel.history[-2].inputs)  # history restore: the customers rows are the old Run's
    assert "xacct-stale" in panel.output._dom_classes and "previous Run's (dimmed)" in panel.status.value
    panel.run()
    assert "xacct-stale" not in panel.output._dom_classes
