"""The flat public API: every documented name importable from `xacct_nb`, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import xacct_nb


def test_every_public_name_resolves():
    for name in xacct_nb.__all__:
        assert getattr(xacct_nb, name) is not None, name
    from xacct_nb import RemoteTable, assume, load_spec  # the issue's own example
    assert RemoteTable.__module__ == "xacct_nb.dynamo.table"
    assert callable(assume) and callable(load_spec)
    assert sorted(xacct_nb._EXPORTS) + ["__version__"] == xacct_nb.__all__
    assert xacct_nb.__version__ == "0.2.0"


def test_old_import_paths_keep_working(monkeypatch):
    from xacct_nb.provisioning import apply, plan
    from xacct_nb.sessions import assume_from_spec

    monkeypatch.delitem(sys.modules, "xacct_nb.tables", raising=False)  # the warning comes on import
    with pytest.warns(DeprecationWarning, match=r"xacct_nb.tables is deprecated and will be removed in "
                      r"xacct-nb 0\.4\.0 — import from xacct_nb"):
        from xacct_nb.tables import RemoteTable

    assert RemoteTable is xacct_nb.RemoteTable and plan is xacct_nb.plan and apply is xacct_nb.apply
    assert assume_from_spec is xacct_nb.assume_from_spec


def test_importing_the_package_stays_cheap():
    # the CLI imports xacct_nb on every command: pandas/boto3 must load only when used
    code = "import sys, xacct_nb; print(sorted(m for m in ('pandas', 'boto3', 'pyarrow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_names_raise_attribute_error():
    try:
        xacct_nb.no_such_thing  # noqa: B018
    except AttributeError as err:
        assert "no_such_thing" in str(err)
    else:
        raise AssertionError("expected AttributeError")
