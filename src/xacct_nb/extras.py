"""The optional parts of the package: what each extra brings, and one check the features that
need one call first, so a missing extra is one line naming the install command, not a traceback.

    pip install xacct-nb              # plan/apply/assume/verify/RemoteTable on real accounts
    pip install 'xacct-nb[sandbox]'   # + the local rehearsal (moto's server, pinned)
    pip install 'xacct-nb[dask]'      # + to_dask, scan --dask, read_export(engine="dask")
"""

from __future__ import annotations

import importlib.util

from .errors import ExtraMissing

__all__ = ["EXTRAS", "require"]

# extra -> the module whose presence says it is installed
EXTRAS = {"sandbox": "moto", "dask": "dask"}


def require(extra: str, feature: str) -> None:
    """Raise ExtraMissing (exit 2) when `extra` is not installed; `feature` is what needs it."""
    module = EXTRAS[extra]
    if importlib.util.find_spec(module) is None:
        raise ExtraMissing(feature, module, extra)
