"""Shared fixtures: one sandbox (moto server on loopback, IAM enforced) for the whole session.

Tests talk to it over HTTP with ordinary boto3 sessions chosen by profile name, exactly like a
user with real accounts; nothing is stubbed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from xacct_nb.sandbox import Sandbox

# benchmarks/raw_items.py (raw pages as dicts: the benchmarks' floor) is imported by tests too.
sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))

# Ambient credentials on a developer's machine must never leak into a test.
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    sb = Sandbox(port=0, state_dir=tmp_path_factory.mktemp("sandbox"))
    sb.start()
    saved = {k: os.environ.get(k) for k in sb.env}
    os.environ.update(sb.env)  # so boto3.Session(profile_name=...) and child processes find it
    yield sb
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    sb.stop()


@pytest.fixture(autouse=True, scope="module")
def _close_widgets_of_the_module():
    """Close every ipywidget still open when a test module ends.

    ipywidgets keeps each open widget in its registry (`ipywidgets.widgets.widget._instances`), so
    a panel a test built lives until the interpreter exits. By then the `comm` package has dropped
    its comm manager; `Widget.__del__` closes the widget through a new, empty manager and prints
    `Exception ignored in: Widget.__del__ … KeyError: '<comm id>'` for each one. Closed here, while
    the manager that registered them is alive, they leave nothing to do at exit
    (tests/test_widgets.py::test_open_widgets_at_exit_are_noise_closed_ones_are_not)."""
    yield
    close_open_widgets()


def close_open_widgets() -> None:
    """Close every open ipywidget of this process (nothing to do if ipywidgets was never imported)."""
    widgets = sys.modules.get("ipywidgets")
    if widgets is not None:
        widgets.Widget.close_all()
