"""ARN helpers shared by the sandbox's patches (pure string work, no moto)."""

from __future__ import annotations


def account_of(arn: str) -> str:
    """The account field of an ARN (`arn:aws:iam::111111111111:role/x` -> `111111111111`)."""
    return arn.split(":")[4]


def caller_role_arn(principal: str) -> str | None:
    """arn:aws:sts::A:assumed-role/R/S -> arn:aws:iam::A:role/R (what trust policies and aws:PrincipalArn see)."""
    parts = principal.split(":")
    if len(parts) >= 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        return f"arn:aws:iam::{parts[4]}:role/{parts[5].split('/')[1]}"
    return None


def principal_arn(caller: str) -> str:
    """The ARN policies match a caller by: the role for an assumed-role session, else the caller."""
    return caller_role_arn(caller) or caller
