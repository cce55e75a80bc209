"""Deprecated alias of :mod:`xacct_nb.dynamo` (0.1 import path), removed in 0.4.0; use
``xacct_nb.RemoteTable`` (or ``from xacct_nb.dynamo import ...``)."""

import warnings

from .dynamo import *  # noqa: F403
from .dynamo import __all__  # noqa: F401

REMOVED_IN = "0.4.0"

warnings.warn(f"xacct_nb.tables is deprecated and will be removed in xacct-nb {REMOVED_IN} — "
              "import from xacct_nb (xacct_nb.RemoteTable) or xacct_nb.dynamo instead",
              DeprecationWarning, stacklevel=2)
