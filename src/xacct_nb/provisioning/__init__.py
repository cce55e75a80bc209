"""Provision the cross-account access with boto3: plan, apply, destroy — idempotent and confirmed.

What exists when an apply is done (names and documents from `spec` and `policies`):

* main account: the role (trust policy, description, MaxSessionDuration, optional permissions
  boundary, tags) and one managed policy per table, attached to the role;
* consumer account: the assume policy, attached to `consumer_principal` (a user or a role).

With ``grant_mode: resource_policy`` (`resource_grants`) there is no role: our Sid-marked
statements in each table's resource policy, and in the consumer account a managed policy allowing
the same actions on the table ARNs, attached to `consumer_principal`.

`plan(spec)` reads the live state of both accounts and lists one `Change` per resource: create,
update, delete, no-op, or left-alone (a same-named resource WITHOUT the tag
``managed-by=xacct-nb``: never updated or deleted, and `apply` refuses to run while one is in
the way). `apply(spec, confirm=plan.id)` re-plans and performs exactly those changes, in an order
AWS accepts; with nothing to change it makes no IAM write call at all (and needs no
confirmation). `destroy` removes what is ours: attachments, old policy versions, policies, then
the role.

    model      Change, IamCall, Plan, ApplyResult — plain data
    live       reading the accounts' IAM state (and `live_state` for people)
    planner    live state + spec → Plan
    executor   Plan → IAM calls, confirmation, waiting until the role is assumable
"""

from .executor import apply, destroy, wait_until_assumable, wait_until_readable
from .live import live_state
from .model import ACTIONS, CHANGING, RESOURCES, SIDES, ApplyResult, Change, IamCall, Plan
from .planner import MAX_POLICY_VERSIONS, plan, plan_destroy

__all__ = ["ACTIONS", "CHANGING", "MAX_POLICY_VERSIONS", "RESOURCES", "SIDES", "ApplyResult",
           "Change", "IamCall", "Plan", "apply", "destroy", "live_state", "plan", "plan_destroy",
           "wait_until_assumable", "wait_until_readable"]
