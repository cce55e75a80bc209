"""dynalite — an independent DynamoDB implementation on Node — on a free loopback port.

A second, much faster server than moto (no IAM: it accepts any credentials): the benchmarks
read from it so that wall time reflects the client, and the reader's type-fidelity tests run
against it to show they do not depend on moto's quirks. It is installed by the project's own
files: ``make dynalite`` runs ``npm ci --prefix tools/dynalite`` when ``node`` is present.
Lives in tests/ (not in the package: it needs this checkout's tools/dynalite); the benchmarks
import it with tests/ on ``sys.path``.

    with Dynalite() as endpoint:        # "http://127.0.0.1:PORT"
        boto3.client("dynamodb", endpoint_url=endpoint, ...)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

__all__ = ["Dynalite", "DynaliteUnavailable", "dynalite_dir", "unavailable_reason"]

_STOP_TIMEOUT_S = 20


class DynaliteUnavailable(RuntimeError):
    """node or the installed dynalite package is missing; the message says how to get them."""


def dynalite_dir() -> Path:
    """``tools/dynalite`` of this checkout (``XACCT_DYNALITE_DIR`` overrides it)."""
    override = os.environ.get("XACCT_DYNALITE_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "tools" / "dynalite"


def unavailable_reason() -> str | None:
    """Why dynalite cannot start here (None when it can)."""
    if shutil.which("node") is None:
        return "node is not installed (dynalite runs on Node.js)"
    if not (dynalite_dir() / "node_modules" / "dynalite").is_dir():
        return f"dynalite is not installed in {dynalite_dir()} — run `make dynalite`"
    return None


class Dynalite:
    """Starts ``tools/dynalite/serve.js`` in a child process; stops it on exit."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def __enter__(self) -> str:
        reason = unavailable_reason()
        if reason:
            raise DynaliteUnavailable(reason)
        self._process = subprocess.Popen(
            ["node", str(dynalite_dir() / "serve.js")], cwd=dynalite_dir(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # serve.js prints once it accepts connections
        if not line.startswith("listening "):
            self.stop()
            raise DynaliteUnavailable(f"dynalite did not start: {line.strip() or 'no output'}")
        self.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"
        return self.endpoint

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None
