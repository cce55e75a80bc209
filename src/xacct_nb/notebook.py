"""Small helpers for the runbook notebooks' cells: show things nicely, record facts for the run's
audit sidecar, and stop early with a clear message. No AWS logic lives here."""

from __future__ import annotations

import json
from typing import Any

from .runbook import RECORD_MIME


def record(**facts: Any) -> None:
    """Publish facts (JSON-able) for the run record's sidecar; invisible in the notebook."""
    from IPython.display import display

    payload = json.loads(json.dumps(facts, default=str))
    display({RECORD_MIME: payload, "text/plain": ""}, raw=True)


def show(df, *, caption: str | None = None, max_rows: int = 20) -> None:
    """An interactive, paginated table (itables) that also works in exported HTML."""
    from IPython.display import display

    try:
        from itables import show as itable

        itable(df, caption=caption, lengthMenu=[10, 25, 50, 100], pageLength=max_rows,
               maxBytes=0, classes="display compact")
    except ImportError:  # a plain table is better than none
        display(df.head(max_rows))


def stop(message: str) -> None:
    """End the notebook here with one clear line (papermill records it as the run's error)."""
    from .errors import InputError

    raise InputError(message)
