"""Checks the tracked runbooks (notebooks/*.ipynb), which are their own source: people edit them
in JupyterLab (see docs/notebooks.md). What a notebook must be before it is committed:

- no outputs and no execution counts in any code cell; no attachments;
- cell ids unique and short (``c00``, ``c01``...: stable, so diffs stay small);
- no metadata but the kernelspec (the ``xacct-nb`` kernel) and the ``language_info`` the kernel
  reports, and on cells nothing but ``tags`` (JupyterLab's ``execution``/``scrolled``/widget state
  is dropped);
- exactly one code cell tagged ``parameters`` (papermill injects its values after it), and right
  after it the validation cell, derived from the parameters cell's annotations: it checks every
  injected name and type the way ``xacct-nb run`` does;
- the JSON as nbformat (and so JupyterLab) writes it.

    python tools/check_notebooks.py              # check; exit 1 and one line per problem
    python tools/check_notebooks.py --fix        # fix what is mechanical, then check again

``--fix`` strips outputs and counts, gives new cells the next free id, rewrites the validation
cell from the parameters cell and resets the metadata; it never touches a cell's code otherwise.
tests/test_notebooks.py runs the check in CI.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNELSPEC = {"name": "xacct-nb", "display_name": "Python (xacct-nb)", "language": "python"}
LANGUAGE_INFO_KEYS = {"codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter",
                      "pygments_lexer", "version"}
CELL_ID = re.compile(r"c\d{2,}")
PARAMETERS_TAG = "parameters"
# Parameters that are paths: their defaults are relative to notebooks/ (see check_parameters).
PATH_PARAMETERS = ("params_file", "export_dir", "runs_dir")


def validation_cell(notebook: str, parameters: str) -> str:
    """The cell right after `parameters` (papermill injects its cell between the two): checks
    the injected names and every value's type against the annotations of the parameters cell."""
    declared = {node.target.id: ast.unparse(node.annotation)
                for node in ast.parse(parameters).body
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}
    paths = tuple(name for name in PATH_PARAMETERS if name in declared)
    return "\n".join(["from xacct_nb.notebook import check_parameters", "",
                      f"check_parameters({notebook!r}, {{",
                      *(f"    {name!r}: {kind!r}," for name, kind in declared.items()),
                      f"}}, paths={paths!r})"])


def language_info() -> dict:
    """What the xacct-nb kernel (ipykernel on this interpreter) reports and JupyterLab saves."""
    from ipykernel.ipkernel import IPythonKernel

    return dict(IPythonKernel.language_info)


def problems(path: Path) -> list[str]:
    """Everything wrong with the notebook at `path`, one line each (empty: it is fine)."""
    text = path.read_text()
    nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    found = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as err:
        found.append(f"not a valid notebook: {err.message}")
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        found.append(f"nbformat {nb.nbformat}.{nb.nbformat_minor}: save it as 4.5 or later (cell ids)")
    extra = sorted(set(nb.metadata) - {"kernelspec", "language_info"})
    if extra:
        found.append(f"notebook metadata {extra} — only kernelspec and language_info are kept (--fix)")
    if nb.metadata.get("kernelspec") != KERNELSPEC:
        found.append(f"kernelspec is {nb.metadata.get('kernelspec')} — use the {KERNELSPEC['name']!r} kernel (--fix)")
    info = nb.metadata.get("language_info", {})
    if info.get("name") != "python" or set(info) != LANGUAGE_INFO_KEYS:
        found.append("language_info is not what the xacct-nb kernel reports (--fix)")
    ids = [cell.get("id") for cell in nb.cells]
    for i, cell in enumerate(nb.cells):
        where = f"cell {i} ({cell.get('id')})"
        if not CELL_ID.fullmatch(str(cell.get("id"))) or ids.count(cell.get("id")) > 1:
            found.append(f"{where}: id is not a unique cNN (--fix numbers new cells)")
        if cell.cell_type == "code" and cell.get("outputs"):
            found.append(f"{where}: has outputs — clear them (--fix)")
        if cell.cell_type == "code" and cell.get("execution_count") is not None:
            found.append(f"{where}: has an execution count — clear it (--fix)")
        if cell.get("attachments"):
            found.append(f"{where}: has attachments — link a file in docs/ instead")
        if set(cell.metadata) - {"tags"}:
            found.append(f"{where}: metadata {sorted(set(cell.metadata) - {'tags'})} — only tags are kept (--fix)")
    tagged = [i for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.metadata.get("tags", [])]
    if len(tagged) != 1 or nb.cells[tagged[0]].cell_type != "code":
        found.append(f"{len(tagged)} cells tagged {PARAMETERS_TAG!r}: papermill needs exactly one code cell")
    else:
        index = tagged[0]
        expected = validation_cell(path.name, nb.cells[index].source)
        after = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
        if after is None or after.cell_type != "code" or after.source != expected:
            found.append(f"cell {index + 1}: is not the validation cell of the parameters cell {index} (--fix)")
    if not found and text not in (nbformat.writes(nb), nbformat.writes(nb) + "\n"):
        found.append("not formatted as nbformat writes it (--fix)")
    return found


def fix(path: Path) -> None:
    """Make the mechanical repairs `problems` names, in place."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata = nbformat.NotebookNode({"kernelspec": KERNELSPEC, "language_info": language_info()})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata = nbformat.NotebookNode({"tags": cell.metadata["tags"]} if cell.metadata.get("tags") else {})
    taken: set[str] = set()
    for cell in nb.cells:  # keep every good id; number the rest after the highest
        if CELL_ID.fullmatch(str(cell.get("id"))) and cell.id not in taken:
            taken.add(cell.id)
        else:
            cell.id = ""
    next_number = max((int(i[1:]) for i in taken), default=-1) + 1
    for cell in nb.cells:
        if not cell.id:
            cell.id = f"c{next_number:02d}"
            next_number += 1
    tagged = [i for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.metadata.get("tags", [])]
    if len(tagged) == 1:
        index = tagged[0]
        expected = validation_cell(path.name, nb.cells[index].source)
        after = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
        if after is not None and after.cell_type == "code" and "check_parameters(" in after.source:
            after.source = expected
        else:
            cell = nbformat.v4.new_code_cell(expected)
            cell.id = f"c{next_number:02d}"
            nb.cells.insert(index + 1, cell)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--fix", action="store_true", help="repair what is mechanical, then check")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    failed = 0
    for path in paths:
        if args.fix:
            fix(path)
        for problem in problems(path):
            print(f"{path}: {problem}")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
