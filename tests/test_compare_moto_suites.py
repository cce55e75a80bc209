"""tools/compare_moto_suites.py reads pytest's JUnit XML per test (the comparison's input)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "compare_moto_suites.py"


def _tool():
    spec = importlib.util.spec_from_file_location("compare_moto_suites", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_outcomes_and_summary_from_junit_xml(tmp_path):
    junit = tmp_path / "r.xml"
    junit.write_text('<testsuites><testsuite>'
                     '<testcase classname="tests.test_x" name="a"/>'
                     '<testcase classname="tests.test_x" name="b"><failure message="m"/></testcase>'
                     '<testcase classname="tests.test_y.C" name="c"><skipped/></testcase>'
                     '<testcase classname="tests.test_y.C" name="d"><error message="e"/></testcase>'
                     '</testsuite></testsuites>')
    tool = _tool()
    found = tool.outcomes(junit)
    assert found == {"tests.test_x::a": "passed", "tests.test_x::b": "failed",
                     "tests.test_y.C::c": "skipped", "tests.test_y.C::d": "error"}
    assert tool.summary(found) == "1 passed, 1 failed, 1 error, 1 skipped"
    assert tool.outcomes(tmp_path / "missing.xml") == {}


def test_a_folder_without_tests_is_refused(tmp_path, capsys):
    assert _tool().main([str(tmp_path)]) == 2
    assert "no tests/ folder" in capsys.readouterr().out
