"""Where `xacct-nb sandbox` serves and keeps its profiles by default. A module of its own so the
CLI (whose help shows these) imports without the sandbox extra."""

from __future__ import annotations

__all__ = ["DEFAULT_DIR", "DEFAULT_PORT"]

DEFAULT_PORT = 41111
DEFAULT_DIR = ".sandbox"
