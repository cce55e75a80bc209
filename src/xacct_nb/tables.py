"""Deprecated alias of :mod:`xacct_nb.dynamo` (0.1 import path); use ``xacct_nb.RemoteTable``."""

from .dynamo import *  # noqa: F403
from .dynamo import __all__  # noqa: F401
