"""Our one-line errors stay one line when someone runs a notebook with papermill's own CLI.

papermill imports the modules of the `papermill.engine` entry points when it is imported, so this
module is loaded in every papermill process of this environment. papermill's CLI lets a failed
cell's `PapermillExecutionError` escape as a Python traceback of papermill's and click's frames
(~30 lines) before the cell's error; for the errors our notebooks raise on purpose (an
`XacctError`: one line that names the field and the fix) the excepthook installed here prints
that line alone, as `xacct-nb run` does. Every other exception keeps its traceback, and nothing
changes for code that catches the exception (like `xacct-nb run`).
"""

from __future__ import annotations

import sys
from types import TracebackType

from papermill.engines import NBClientEngine


class Engine(NBClientEngine):
    """papermill's default engine under the name `xacct-nb` (an entry point has to name one)."""


def our_error_names() -> set[str]:
    from .errors import XacctError

    names, pending = set(), [XacctError]
    while pending:
        kind = pending.pop()
        names.add(kind.__name__)
        pending += kind.__subclasses__()
    return names


def one_line(error: BaseException) -> str | None:
    """The line to show for `error`, when it is a notebook cell's error of ours."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError) and error.ename in our_error_names():
        return f"papermill: error at cell {error.exec_count}: {error.ename}: {error.evalue}"
    return None


def _excepthook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    line = one_line(error)
    if line is None:
        _previous(kind, error, tb)
    else:
        print(line, file=sys.stderr)


_previous = sys.excepthook
if getattr(sys.excepthook, "__module__", None) != __name__:
    sys.excepthook = _excepthook
