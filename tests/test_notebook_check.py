"""tools/check_notebooks.py: the tracked notebooks are their own source, and this check (run here,
so in CI) keeps what a generator used to guarantee. Each broken copy below must be refused with a
line naming the problem, and `--fix` must repair what is mechanical."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "check_notebooks.py"
NOTEBOOK = ROOT / "notebooks" / "03_assume_and_explore.ipynb"


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=120)


def _load_tool():
    spec = importlib.util.spec_from_file_location("check_notebooks", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def run(*args: str) -> tuple[int, str]:
    """The tool's main() in this process (fast); `check` runs it as CI does."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = tool.main(list(args))
    return code, out.getvalue()


def test_the_tracked_notebooks_pass():
    done = check()
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_ruff_lints_the_notebooks():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise",
                           str(ROOT / "notebooks")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout
    # and it really reads them: an unused import in a cell is found
    assert "notebooks" not in (ROOT / "pyproject.toml").read_text().split("[tool.ruff]")[1].split("[")[0]


def _params_index(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))


def _with_output(nb):
    nb.cells[_params_index(nb) + 2].outputs = [nbformat.v4.new_output("stream", text="hi\n")]


def _with_count(nb):
    nb.cells[_params_index(nb) + 2].execution_count = 7


def _with_uuid_id(nb):
    nb.cells[1].id = "5f2b8c1e-0a4d-4b8e-9d8f-2c1e0a4d4b8e"


def _with_duplicate_id(nb):
    nb.cells[2].id = nb.cells[1].id


def _with_widget_state(nb):
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}


def _with_cell_execution_metadata(nb):
    nb.cells[0].metadata["execution"] = {"iopub.status.busy": "2026-12-06T09:00:00Z"}


def _with_other_kernel(nb):
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _without_parameters_tag(nb):
    nb.cells[_params_index(nb)].metadata = {}


def _with_new_parameter_unchecked(nb):
    nb.cells[_params_index(nb)].source += '\nsample_rows: int = 5  # a new parameter'


def _with_edited_validation_cell(nb):
    index = _params_index(nb) + 1
    nb.cells[index].source = nb.cells[index].source.replace("'str'", "'int'", 1)


BREAKAGES = {
    "has outputs": _with_output, "has an execution count": _with_count,
    "id is not a unique cNN": _with_uuid_id, "id is not a unique cNN ": _with_duplicate_id,
    "notebook metadata ['widgets']": _with_widget_state, "metadata ['execution']": _with_cell_execution_metadata,
    "kernelspec is": _with_other_kernel, "0 cells tagged 'parameters'": _without_parameters_tag,
    "is not the validation cell": _with_new_parameter_unchecked,
    "is not the validation cell ": _with_edited_validation_cell,
}


@pytest.mark.parametrize("problem", sorted(BREAKAGES))
def test_a_broken_notebook_is_refused_and_fixed(tmp_path, problem):
    copy = tmp_path / NOTEBOOK.name
    nb = nbformat.read(NOTEBOOK, as_version=4)
    BREAKAGES[problem](nb)
    nbformat.write(nb, copy)
    code, out = run(str(copy))
    assert code == 1 and problem.strip() in out, out
    if problem == "0 cells tagged 'parameters'":
        return  # which cell is the parameters cell is for a person to say
    code, out = run("--fix", str(copy))
    assert code == 0, out
    if "validation" in problem:  # rewritten from the annotations, the new parameter included
        after = nbformat.read(copy, as_version=4)
        source = after.cells[_params_index(after) + 1].source
        assert ("'sample_rows': 'int'" in source) == ("new parameter" in after.cells[_params_index(after)].source)
        assert "'params_file': 'str'" in source and "'table': 'str'" in source


def test_fix_keeps_the_good_ids_and_numbers_a_new_cell_after_them(tmp_path):
    copy = tmp_path / NOTEBOOK.name
    nb = nbformat.read(NOTEBOOK, as_version=4)
    ids = [c.id for c in nb.cells]
    new = nbformat.v4.new_code_cell("1 + 1")  # what JupyterLab adds: a random uuid
    nb.cells.insert(3, new)
    nbformat.write(nb, copy)
    assert run("--fix", str(copy))[0] == 0
    after = [c.id for c in nbformat.read(copy, as_version=4).cells]
    assert after == ids[:3] + [f"c{len(ids):02d}"] + ids[3:]


def test_a_tracked_notebook_reformatted_is_refused(tmp_path):
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    copy.write_text(copy.read_text().replace('\n "nbformat": 4', '\n  "nbformat": 4'))
    assert "not formatted as nbformat writes it" in run(str(copy))[1]
