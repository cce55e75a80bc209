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


_ITABLES_READY = False
PAGE_LENGTHS = [10, 25, 50, 100]


def prepare_tables() -> None:
    """Load the table viewer into the notebook once (call it from a top-level cell)."""
    global _ITABLES_READY
    if _ITABLES_READY:
        return
    import itables

    # connected=False embeds the DataTables bundle: by default itables loads it from the
    # internet, and on machines without it every table stays at "Loading…".
    itables.init_notebook_mode(all_interactive=False, connected=False)
    _ITABLES_READY = True


def table_html(df, *, caption: str | None = None, page_length: int = 10) -> str:
    """A paginated, sortable, searchable HTML table (itables) that also works in exported HTML."""
    import itables

    return itables.to_html_datatable(df, caption=caption, lengthMenu=PAGE_LENGTHS,
                                     pageLength=page_length, maxBytes=0,
                                     classes="display compact nowrap")


def show(df, *, caption: str | None = None, page_length: int = 10) -> None:
    """Display `df` as an interactive, paginated table."""
    from IPython.display import HTML, display

    prepare_tables()
    display(HTML(table_html(df, caption=caption, page_length=page_length)))


def stop(message: str) -> None:
    """End the notebook here with one clear line (papermill records it as the run's error)."""
    from .errors import InputError

    raise InputError(message)
