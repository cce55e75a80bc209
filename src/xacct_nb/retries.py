"""Retries: botocore's own retry mode for every request it can resend as is, with the mode and
attempts set explicitly (botocore's defaults differ between versions and configs: legacy mode
gives DynamoDB 10 attempts, standard mode 3), and one jittered backoff for the few loops
botocore cannot do — BatchGetItem's UnprocessedKeys, waiting for IAM to propagate.
"""

from __future__ import annotations

import random

from botocore.config import Config

__all__ = ["DYNAMODB_ATTEMPTS", "IAM_ATTEMPTS", "PROBE_ATTEMPTS", "backoff", "client_config"]

# Total attempts per request (first try included). DynamoDB throttles under load and its
# requests are cheap to resend; IAM/STS calls are few and a throttled one can wait longer.
DYNAMODB_ATTEMPTS = 10
IAM_ATTEMPTS = 5
# verify's probes: one small request each; a throttled probe is retried, a stuck one not for long.
PROBE_ATTEMPTS = 3
_ATTEMPTS = {"dynamodb": DYNAMODB_ATTEMPTS}


def client_config(service: str, config: Config | None = None, *, attempts: int | None = None) -> Config:
    """Our retry settings for `service`, with `config` (the caller's) taking precedence. Clients
    are made by :func:`xacct_nb.clients.make_client`, which adds these. `attempts` replaces the
    service's default total (first try included)."""
    ours = Config(retries={"mode": "standard",
                           "total_max_attempts": attempts or _ATTEMPTS.get(service, IAM_ATTEMPTS)})
    return ours.merge(config) if config is not None else ours


def backoff(attempt: int, base: float = 1.0, cap: float = 20.0) -> float:
    """Seconds to wait before retry number `attempt` (from 1): full jitter, exponential, capped."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))
