"""Small helpers for the runbook notebooks' cells: show things nicely, record facts for the run's
audit sidecar, and stop early with a clear message. No AWS logic lives here.

Tables are itables DataTables that need no internet: the DataTables bundle is embedded (not
loaded from a CDN), and every table carries a static first page that shows where scripts do not
run (an untrusted notebook, a plain viewer).
"""

from __future__ import annotations

import json
import math
from typing import Any

from .runbook import RECORD_MIME

PAGE_LENGTHS = [10, 25, 50, 100]
NUMERIC_PLOTS_MAX = 12  # histograms in the ready-made plot cell: a small grid, not a wall
_viewer_shown_in_cell: int | None = None


def record(**facts: Any) -> None:
    """Publish facts (JSON-able) for the run record's sidecar; invisible in the notebook."""
    from IPython.display import display

    payload = json.loads(json.dumps(facts, default=str))
    display({RECORD_MIME: payload, "text/plain": ""}, raw=True)


# Set by batch runs (runbook): the name of the viewer file next to the record. Outputs then load
# the DataTables bundle from that file instead of embedding ~1 MB in every table's cell.
VIEWER_SRC_ENV = "XACCT_NB_VIEWER_SRC"


def viewer_html() -> str:
    """The DataTables bundle as an HTML output (≈1 MB, embedded). Loading it twice on one page
    does nothing the second time, so every output that needs it may carry it.

    In a batch run (``XACCT_NB_VIEWER_SRC`` names the file written next to the record) it is a
    few lines that load that file instead: the record's .ipynb and .html stay small, and the
    .html (opened from its folder) finds the file beside it."""
    import os

    source = os.environ.get(VIEWER_SRC_ENV)
    if source:
        return _viewer_loader(source) + _UNTRUSTED_NOTE
    return "<script>" + viewer_script() + "</script>" + _UNTRUSTED_NOTE


def viewer_script() -> str:
    """The bundle's loader script (JavaScript, no tags): defines the viewer once per page."""
    from itables import options
    from itables.javascript import generate_init_offline_itables_html

    loader = generate_init_offline_itables_html(options.dt_bundle)
    # itables' own note for pages where scripts do not run names its API ("init_notebook_mode");
    # the note below says instead what the reader sees and what to do
    body = loader[: loader.index("</script>")]
    return body[body.index("<script>") + len("<script>"):]


def viewer_file_name() -> str:
    import itables

    return f"itables-{itables.__version__}.js"


def write_viewer_file(folder) -> str:
    """The viewer script as a file in `folder` (written atomically, once per itables version);
    returns its name, relative to `folder`."""
    import os
    import tempfile
    from pathlib import Path

    name = viewer_file_name()
    target = Path(folder) / name
    script = viewer_script()
    if target.exists() and target.read_text(encoding="utf-8") == script:
        return name
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(script)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return name


def _viewer_loader(source: str) -> str:
    import itables

    flag = "_itables_" + itables.__version__.replace(".", "_")
    return (f"<script>if (!window.{flag} && !document.querySelector('script[data-xacct-viewer]')) {{"
            "const s = document.createElement('script'); s.dataset.xacctViewer = '1'; "
            f"s.src = {json.dumps(source)}; document.head.appendChild(s); }}</script>")


_UNTRUSTED_NOTE = ("<noscript><p><i>Tables below show their first page only: this notebook's scripts do "
                   "not run here (untrusted). Trust it (File ▸ Trust Notebook) or open the run's .html "
                   "record for paginated tables.</i></p></noscript>")


def prepare_tables() -> None:
    """Load the table viewer into the output of the running cell, once per cell execution.

    Not once per kernel: after a page reload, or a notebook closed and reopened while its kernel
    runs, the page has lost what earlier cells loaded, and a re-run cell must bring it along."""
    from IPython.display import HTML, display

    global _viewer_shown_in_cell
    cell = _execution_count()
    if cell is not None and cell == _viewer_shown_in_cell:
        return
    display(HTML(viewer_html()))
    _viewer_shown_in_cell = cell


def _execution_count() -> int | None:
    from IPython import get_ipython

    shell = get_ipython()
    return None if shell is None else shell.execution_count


def shortest_number(value: float) -> str:
    """A float as written: the shortest text that reads back as the same number (417.87, not
    417.870; 1033, not 1033.00). pandas formats a float column with one precision for all rows."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    text = repr(float(value))
    return text.removesuffix(".0")


MISSING = "—"  # the one marker for a missing value (absent attribute, NULL, NaN, NA) in tables


def display_value(value: Any) -> str:
    """How every table shows one value (display only; the frame keeps its types): missing as
    :data:`MISSING`; binary as base64 with its length; maps, lists and sets as compact JSON (sets
    sorted, binary inside as base64, numbers exact); floats as their shortest text."""
    import base64

    if _is_missing(value):
        return MISSING
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return f"{base64.b64encode(data).decode('ascii')} (base64, {len(data)} byte{'s' if len(data) != 1 else ''})"
    if isinstance(value, (dict, list, tuple, set, frozenset)) or type(value).__name__ == "ndarray":
        return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "true" if value else "false"
    if isinstance(value, float) or type(value).__name__ in ("float64", "float32"):
        return shortest_number(float(value))
    return str(value)


def display_frame(df):
    """`df` as its tables show it: every column that holds missing values or non-numbers becomes
    text by :func:`display_value`; numeric and boolean columns without a gap stay as they are
    (so they sort as numbers)."""
    import pandas as pd

    out = {}
    for position in range(len(df.columns)):  # by position: column names may repeat
        column = df.iloc[:, position]
        dtype = column.dtype
        typed = (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)) \
            and not isinstance(dtype, pd.ArrowDtype)
        if typed and not column.isna().any():
            out[position] = column
        else:
            out[position] = pd.Series([display_value(v) for v in column.tolist()], index=df.index,
                                      dtype=object)
    shown = pd.DataFrame(out, index=df.index)
    shown.columns = df.columns
    return shown


def _is_missing(value: Any) -> bool:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value)) if not hasattr(value, "__len__") else False
    except (TypeError, ValueError):
        return False


def _jsonable(value: Any) -> Any:
    import base64
    from decimal import Decimal

    if _is_missing(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return [_jsonable(v) for v in sorted(value, key=lambda v: (str(type(v)), v))]
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return [_jsonable(v) for v in list(value)]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def table_html(df, *, caption: str | None = None, page_length: int = 10) -> str:
    """A paginated, sortable, searchable, horizontally scrolling HTML table (itables, offline)
    that also works in exported HTML. Needs the viewer on the page (`prepare_tables`). Values
    are shown by :func:`display_value`, the same in the panel, `show` and run records."""
    import itables
    import pandas as pd

    with pd.option_context("display.float_format", shortest_number):
        return itables.to_html_datatable(display_frame(df), caption=caption, lengthMenu=PAGE_LENGTHS,
                                         pageLength=page_length, maxBytes=0, connected=False,
                                         scrollX=True, classes="display compact nowrap")


def show(df, *, caption: str | None = None, page_length: int = 10) -> None:
    """Display `df` as an interactive, paginated table."""
    from IPython.display import HTML, display

    prepare_tables()
    display(HTML(table_html(df, caption=caption, page_length=page_length)))


def numeric_columns(df) -> list[str]:
    """Columns whose values are all numbers: int/float dtypes and exact `Decimal` columns
    (object dtype), never booleans."""
    from decimal import Decimal

    import pandas as pd

    names = []
    for name in df.columns:
        column = df[name]
        if pd.api.types.is_bool_dtype(column):
            continue
        if pd.api.types.is_numeric_dtype(column):
            names.append(name)
        elif column.dtype == object:
            values = column.dropna()
            if len(values) and all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)
                                   for v in values):
                names.append(name)
    return names


def summary(df):
    """One row per column, with what fits its type: numbers get min/mean/max, everything gets
    its type, how many values are present and distinct, and the most common value."""
    import pandas as pd

    numeric = set(numeric_columns(df))
    rows = []
    for name in df.columns:
        column = df[name]
        present = column.dropna()
        row: dict[str, Any] = {"column": name, "type": str(column.dtype), "present": len(present),
                               "missing": len(column) - len(present)}
        hashable = present.map(_hashable)
        row["distinct"] = hashable.nunique()
        if name in numeric and len(present):
            values = present.astype(float)
            row.update(min=_number_text(present.min()), mean=shortest_number(round(values.mean(), 6)),
                       max=_number_text(present.max()))
        else:
            row.update(min="", mean="", max="")
        row["most common"] = _clip(str(hashable.mode().iloc[0])) if len(hashable) else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("column")


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, bytes)) else repr(value)


def _number_text(value: Any) -> str:
    return shortest_number(value) if isinstance(value, float) else str(value)


def plot_numeric(df, *, title: str = "") -> None:
    """A histogram per numeric column, each on its own axis, in a small grid (up to
    NUMERIC_PLOTS_MAX columns). Shows the figure and returns nothing."""
    import matplotlib.pyplot as plt

    names = numeric_columns(df)[:NUMERIC_PLOTS_MAX]
    if not names:
        print("no numeric columns to plot")
        return
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        _histogram(ax, df[name].dropna())
        ax.set_title(str(name))
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.show()


def _histogram(ax, values) -> None:
    """A histogram, or the range in words when floats cannot tell the values apart (e.g. integers
    past 2**53 that differ only in their last digits)."""
    try:
        ax.hist(values.astype(float), bins=30, color="#4c72b0")
    except ValueError:
        ax.text(0.5, 0.5, f"{len(values)} values from\n{values.min()}\nto {values.max()}\n(too close to bin as floats)",
                ha="center", va="center", transform=ax.transAxes, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])


def stop(message: str) -> None:
    """End the notebook here with one clear line (papermill records it as the run's error)."""
    from .errors import InputError

    raise InputError(message)


def full_traceback() -> None:
    """Print the whole traceback of the last error (cells show only its one-line message)."""
    import sys
    import traceback

    error = getattr(sys, "last_value", None)
    if error is None:
        print("no error so far in this kernel")
        return
    traceback.print_exception(error)


# -- the cell after `parameters` --------------------------------------------------------------

_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str, "int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict,
    "tuple": tuple}


def check_parameters(notebook: str, declared: dict[str, str], *, paths: tuple[str, ...] = ()) -> None:
    """Validate the parameters in the cell right after the `parameters` cell.

    papermill puts its `injected-parameters` cell between the two and only warns about names the
    notebook does not declare, so a direct `papermill … -p` run is checked here, with the same
    one-line errors as `xacct-nb run`: every injected name must be declared, every value must
    have its declared type (text is parsed as `-p` text is). A non-empty `confirm` counts only
    when it was injected (`-p confirm=…`) or typed in a JupyterLab session of this notebook: a
    value saved in the file is refused in any batch run. Relative `paths` that were not
    injected are the notebook's defaults, written relative to notebooks/: they resolve there
    whether the kernel runs in notebooks/, in the repository root or in a lab workspace copy."""
    from pathlib import Path

    from IPython import get_ipython

    from .runbook import coerce, invalid_parameter, unknown_parameter

    shell = get_ipython()
    namespace = shell.user_ns
    injected = _injected_names(namespace.get("In", []))
    for name in sorted(injected):
        if name not in declared:
            raise unknown_parameter(name, notebook, declared)
    for name, type_name in declared.items():
        value = coerce(name, namespace[name], type_name)
        expected = _PYTHON_TYPES.get(type_name)
        if expected and (not isinstance(value, expected) or (type_name != "bool" and isinstance(value, bool))):
            raise invalid_parameter(name, value, type_name)
        namespace[name] = value
    if namespace.get("confirm") and "confirm" not in injected and not _lab_session_of(notebook):
        raise saved_confirm(notebook, namespace["confirm"])
    folder = _notebooks_folder(Path.cwd(), notebook)
    for name in paths:
        path = Path(namespace[name])
        if not path.is_absolute():
            namespace[name] = str(((Path.cwd() if name in injected else folder) / path).resolve())


def _injected_names(history: list[str]) -> set[str]:
    """Names assigned by papermill's injected cell, if that is the cell that ran just before
    this one (`In[-1]` is this cell). papermill writes it as '# Parameters' + assignments."""
    import ast

    if len(history) < 2 or not history[-2].lstrip().startswith("# Parameters"):
        return set()
    return {target.id for node in ast.parse(history[-2]).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def saved_confirm(notebook: str, value: Any):
    """The error for a confirmation that comes from the saved file, not from the person running it."""
    from .errors import InputError

    return InputError(f"confirm: {notebook} holds a saved confirm = {value!r}, and a batch run never "
                      "takes a saved confirmation — review the plan, then pass it: xacct-nb run … -p "
                      "confirm=PLAN_ID (papermill: -p confirm PLAN_ID), or set it in JupyterLab")


def _lab_session_of(notebook: str) -> bool:
    """True in a kernel JupyterLab started for this notebook (jupyter_server sets JPY_SESSION_NAME
    to the notebook's path), unless `xacct-nb run` started it. papermill and nbconvert set neither."""
    import os
    from pathlib import PurePath

    from .runbook import BATCH_ENV, LAB_SESSION_ENV

    if os.environ.get(BATCH_ENV):
        return False
    return PurePath(os.environ.get(LAB_SESSION_ENV, "")).name == notebook


def _notebooks_folder(cwd, notebook: str):
    """Where the notebook's relative defaults start: the tracked notebooks/ folder the kernel's
    folder is in or under (a lab workspace copy lives deeper, in workspace/USER/), else the
    kernel's own folder (papermill's cwd may be the repository root, or anywhere)."""
    for folder in (cwd, *cwd.parents):
        if folder.name == "notebooks" and (folder / notebook).exists():
            return folder
        if (folder / "notebooks" / notebook).exists():
            return folder / "notebooks"
    return cwd



def plan_facts(plan, result) -> dict[str, Any]:
    """What a plan notebook (01, 02, 05) records for `xacct-nb run`'s summary: the plan, its id,
    and whether changes are still waiting for a confirmation."""
    return {"plan_id": plan.id, "plan_text": plan.text(), "applied": result is not None,
            "pending": plan.has_changes and result is None}


def dry_run_line(plan) -> str:
    """What a plan notebook says when nothing was confirmed."""
    verb = "destroy" if plan.destroy else "apply"
    if not plan.has_changes:
        return f"Nothing to {verb}: the live state already matches."
    return f"Dry run: nothing changed. To {verb} this plan, set confirm = {plan.id!r}."


def granted_table(spec, table: str) -> str:
    """`table`, or the first granted table when empty; a table the spec does not grant stops the
    notebook with one line before any read (as `xacct-nb run` refuses it before the first cell)."""
    from .runbook import check_table

    check_table({"table": table}, spec)
    return table or spec.table_names[0]
