"""The one place the package makes AWS clients.

Every client gets our retry settings (:func:`xacct_nb.retries.client_config`) and says who is
calling: ``xacct-nb/<version>`` is appended to its User-Agent, so CloudTrail and the service logs
of both accounts tell our requests from the rest. A caller's ``config`` is merged over ours.
tests/test_clients.py fails when a ``.client(`` call appears anywhere else in the package.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from . import __version__, retries

__all__ = ["USER_AGENT_EXTRA", "client_config", "make_client"]

USER_AGENT_EXTRA = f"xacct-nb/{__version__}"


def client_config(service: str, config: Config | None = None, *, attempts: int | None = None) -> Config:
    """Our settings for `service` (retries, user agent), with `config` (the caller's) taking precedence.
    `attempts` replaces the service's default total attempts (first try included)."""
    ours = retries.client_config(service, attempts=attempts).merge(Config(user_agent_extra=USER_AGENT_EXTRA))
    return ours.merge(config) if config is not None else ours


def make_client(session: boto3.Session | botocore.session.Session | None, service: str, *,
                config: Config | None = None, attempts: int | None = None, **kwargs: Any) -> Any:
    """A client of `service` from `session` (a boto3 or botocore session; None: boto3's default
    session), with :func:`client_config`. Other keyword arguments (region_name, endpoint_url,
    keys) go to botocore as they are."""
    merged = client_config(service, config, attempts=attempts)
    if isinstance(session, botocore.session.Session):
        return session.create_client(service, config=merged, **kwargs)
    return (session or boto3.Session()).client(service, config=merged, **kwargs)  # type: ignore[call-overload]
