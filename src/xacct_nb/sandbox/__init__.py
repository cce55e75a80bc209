"""A local rehearsal of the two-account world: moto's server on loopback with IAM enforcement on.

Three accounts — main (owns the tables), consumer (gets access), outsider (must never get in) —
each with an admin user, plus two unprivileged users in the consumer account: `analyst`, and
`analyst2` (a second consumer of a spec's `consumers:` list, reading other tables). The sandbox
writes an ordinary AWS config + credentials file pair whose profiles carry `endpoint_url`, so plain
`boto3.Session(profile_name="sandbox-main")` reaches it: the same code path as a real account.

    with Sandbox() as sb:                      # starts, bootstraps, seeds, enforces IAM
        os.environ.update(sb.env)              # or: sb.session("sandbox-analyst")

`xacct-nb sandbox` runs one in the foreground until Ctrl-C. The fixes this module makes to moto's
IAM evaluation are in `patches.py`.

moto's control endpoints (`/moto-api/*`: `data.json` lists every account's keys, `reset-auth`
switches enforcement off) answer only requests carrying this sandbox's random token (header
`CONTROL_HEADER`, kept in `control-token` beside the profiles, mode 0600); anything else gets 403.
Readiness is checked with an ordinary signed call (`health_problem`), never a bare GET.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.session

from ..extras import require

require("sandbox", "the sandbox (xacct_nb.sandbox)")  # moto: one line naming the extra, not a traceback

from ..atomicfile import atomic_write_text  # noqa: E402
from ..clients import make_client  # noqa: E402
from ..errors import InputError  # noqa: E402
from ..sandbox_location import DEFAULT_DIR, DEFAULT_PORT  # noqa: E402
from .seed import seed_export_bucket, seed_tables  # noqa: E402

REGION = "us-east-1"
ACCOUNTS = {"main": "111111111111", "consumer": "222222222222", "outsider": "333333333333"}
# The AWS Organization of each account, as resource-policy conditions see it (aws:PrincipalOrgID):
# main and consumer share one; the outsider belongs to another, so a grant to the organization
# is proved not to reach it. The sandbox has no Organizations API: this is configuration.
ORGANIZATIONS = {"main": "o-xacctsandbox", "consumer": "o-xacctsandbox", "outsider": "o-elsewhere01"}
# profile -> (account, IAM user); admins get full rights, the analysts get nothing until
# provisioning attaches the assume-role policy.
PROFILES = {
    "sandbox-main": ("main", "admin"),
    "sandbox-consumer": ("consumer", "admin"),
    "sandbox-analyst": ("consumer", "analyst"),
    "sandbox-analyst2": ("consumer", "analyst2"),
    "sandbox-outsider": ("outsider", "admin"),
}
ADMIN_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DEFAULT_COUNTS = {"orders": 2000, "customers": 50, "payments": 20, "ledger": 30, "payroll": 10}
CONTROL_HEADER = "x-xacct-sandbox-token"
CONTROL_TOKEN_FILE = "control-token"
HEALTH_PROFILE = "sandbox-main"


class Sandbox:
    """moto server + three accounts + profiles. Use as a context manager, or start()/stop()."""

    def __init__(self, port: int = DEFAULT_PORT, state_dir: str | os.PathLike = DEFAULT_DIR,
                 counts: dict[str, int] | None = None, enforce: bool = True, seed: bool = True,
                 iam_delay: float = 0.0):
        self.port = port
        self.state_dir = Path(state_dir).resolve()
        self.counts = dict(DEFAULT_COUNTS if counts is None else counts)
        self.enforce = enforce
        self.seed = seed
        self.iam_delay = _checked_delay(iam_delay)
        self.accounts = dict(ACCOUNTS)
        self.organizations = dict(ORGANIZATIONS)  # account name -> organization id
        self._server: Any = None  # werkzeug's server, once started
        self._control_token = secrets.token_urlsafe(32)  # new for every start; see _write_token
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Sandbox:
        self._prepare_state_dir()
        self._start_server()
        try:
            self._write_token()
            self._post("/moto-api/reset", b"")  # moto's state is per process: start clean
            self.set_enforcement(False)
            keys = self._bootstrap_accounts()
            self._write_profiles(keys)
            if self.seed:
                seed_tables(self._bootstrap_client("dynamodb", "main"), self.counts,
                            customers=max(1, self.counts.get("customers", 50)),
                            kms=self._bootstrap_client("kms", "main"))
                seed_export_bucket(self._bootstrap_client("s3", "consumer"))
            self.set_enforcement(self.enforce)
            self.set_iam_delay(self.iam_delay)  # after bootstrap and seed: those take effect at once
            atomic_write_text(self.state_dir / "sandbox.json", json.dumps(
                {"endpoint_url": self.endpoint_url, "pid": os.getpid(), "accounts": self.accounts,
                 "organizations": self.organizations,
                 "profiles": sorted(PROFILES), "started": time.time()}, indent=2))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._socket.close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None
        for name in ("sandbox.json", CONTROL_TOKEN_FILE):
            (self.state_dir / name).unlink(missing_ok=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- what callers use --------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "config"

    @property
    def credentials_file(self) -> Path:
        return self.state_dir / "credentials"

    @property
    def control_token_file(self) -> Path:
        return self.state_dir / CONTROL_TOKEN_FILE

    @property
    def env(self) -> dict[str, str]:
        """Environment that points boto3 (and child processes: kernels, CLIs) at the sandbox."""
        return {"AWS_CONFIG_FILE": str(self.config_file),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials_file),
                "AWS_DEFAULT_REGION": REGION}

    def export_lines(self) -> str:
        return "\n".join(f"export {k}={v}" for k, v in self.env.items())

    def session(self, profile: str) -> boto3.Session:
        """A boto3.Session for one of the sandbox profiles, without touching os.environ."""
        core = botocore.session.Session()
        core.set_config_variable("config_file", str(self.config_file))
        core.set_config_variable("credentials_file", str(self.credentials_file))
        core.set_config_variable("profile", profile)
        return boto3.Session(botocore_session=core)

    def set_enforcement(self, on: bool) -> None:
        """IAM enforcement: '0' = check every request from now on, 'inf' = never (bootstrap)."""
        self._post("/moto-api/reset-auth", b"0" if on else b"inf")

    def set_iam_delay(self, seconds: float) -> None:
        """IAM changes made from now on take effect for authorisation only `seconds` later, like
        AWS's eventual consistency (see patches_delay for exactly what is delayed); 0 = at once."""
        from .patches_delay import set_delay

        self.iam_delay = _checked_delay(seconds)
        set_delay(self.iam_delay)

    # -- internals ---------------------------------------------------------------------------
    def _prepare_state_dir(self) -> None:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            probe = self.state_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as err:
            raise InputError(f"sandbox folder {self.state_dir} is not writable ({err.strerror}) — "
                             "pass --dir with a writable folder") from None

    def _start_server(self) -> None:
        from . import guard

        guard.check()  # before importing the patches: a moto they were not written for is refused
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        from . import patches  # imports moto: only when a server really starts (keeps the CLI fast)

        patches.apply()
        from .authorisation import set_organizations

        set_organizations({self.accounts[name]: org for name, org in self.organizations.items()})
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
        # Bind here, in this thread: werkzeug reports a taken port by printing and exiting, and
        # moto's ThreadedMotoServer would then wait forever. A socket we bound ourselves gives a
        # clear error at once, and werkzeug serves on it through `fd`.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", self.port))
            sock.listen(128)
        except OSError:
            sock.close()
            other = _describe_owner(self.state_dir)
            raise InputError(f"port {self.port} on 127.0.0.1 is already in use{other} — "
                             "stop that process or pass --port with a free port") from None
        self._server = make_server("127.0.0.1", sock.getsockname()[1],
                                   _control_gated(DomainDispatcherApplication, self._control_token)(
                                       create_backend_app),
                                   threaded=True, request_handler=MotoRequestHandler,
                                   fd=sock.fileno())
        self._socket = sock
        self.port = sock.getsockname()[1]  # port=0 asks the OS for a free one
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-sandbox",
                                        daemon=True)
        self._thread.start()

    def _post(self, path: str, body: bytes) -> None:
        import urllib.request

        # Raw bytes on purpose: with a form content type Flask consumes the body and moto reads "".
        req = urllib.request.Request(self.endpoint_url + path, data=body, method="POST",
                                     headers={"Content-Type": "application/octet-stream",
                                              CONTROL_HEADER: self._control_token})
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()

    def _bootstrap_client(self, service: str, account: str, **creds: str) -> Any:
        """A client acting in `account` before enforcement: moto picks the account from a header."""
        client = make_client(None, service, region_name=REGION, endpoint_url=self.endpoint_url,
                             aws_access_key_id=creds.get("key", "bootstrap"),
                             aws_secret_access_key=creds.get("secret", "bootstrap"))
        account_id = self.accounts[account]

        def add_account_header(request, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account_id

        client.meta.events.register_first("before-sign.*.*", add_account_header)
        return client

    def _bootstrap_accounts(self) -> dict[str, tuple[str, str]]:
        keys: dict[str, tuple[str, str]] = {}
        for profile, (account, user) in PROFILES.items():
            iam = self._bootstrap_client("iam", account)
            iam.create_user(UserName=user, Tags=[{"Key": "sandbox", "Value": "xacct-nb"}])
            if user == "admin":
                iam.put_user_policy(UserName=user, PolicyName="SandboxAdministratorAccess",
                                    PolicyDocument=json.dumps(ADMIN_POLICY))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[profile] = (key["AccessKeyId"], key["SecretAccessKey"])
        return keys

    def _write_token(self) -> None:
        """The control token, readable by its owner only (like the credentials beside it)."""
        path = self.control_token_file
        path.unlink(missing_ok=True)  # a file left by another start could carry wider modes
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self._control_token + "\n")

    def _write_profiles(self, keys: dict[str, tuple[str, str]]) -> None:
        config, creds = [], []
        for profile, (key_id, secret) in keys.items():
            config += [f"[profile {profile}]", f"region = {REGION}",
                       f"endpoint_url = {self.endpoint_url}", "output = json", ""]
            creds += [f"[{profile}]", f"aws_access_key_id = {key_id}",
                      f"aws_secret_access_key = {secret}", ""]
        atomic_write_text(self.config_file, "\n".join(config))
        # The credentials are fake and local, but treat them like real ones anyway.
        atomic_write_text(self.credentials_file, "\n".join(creds), mode=0o600)


def _control_gated(dispatcher: type, token: str) -> Any:
    """moto's WSGI dispatcher, with its control app (`/moto-api/*`) behind `token`.

    Decided on the app a request is dispatched to, not on its path: whatever route reaches moto's
    control app (a path prefix, a signing scope naming it) needs the token; nothing else does.
    A request to any other app that is not signed at all (no Authorization header, no presigned
    query) is refused as AWS refuses it: moto would answer it with a 500 and a traceback in the
    log (KeyError 'HTTP_AUTHORIZATION'), or — with enforcement off — serve it."""
    from werkzeug.wrappers import Response

    expected = token.encode()

    class ControlGatedDispatcher(dispatcher):
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            app = self.get_application(environ)
            if app is self.app_instances.get("moto_api"):
                given = environ.get("HTTP_" + CONTROL_HEADER.upper().replace("-", "_"), "")
                if not hmac.compare_digest(given.encode(), expected):
                    return Response("the sandbox's control endpoints need its control token\n",
                                    status=403, mimetype="text/plain")(environ, start_response)
            elif not _signed(environ):
                return Response(UNSIGNED_ANSWER, status=403, mimetype="text/xml")(environ, start_response)
            return app(environ, start_response)

    return ControlGatedDispatcher


UNSIGNED_ANSWER = ("<ErrorResponse><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code>"
                   "<Message>Request is missing Authentication Token</Message></Error></ErrorResponse>")


def _signed(environ: dict[str, Any]) -> bool:
    query = environ.get("QUERY_STRING", "")
    return bool(environ.get("HTTP_AUTHORIZATION")) or "X-Amz-Signature=" in query or "Signature=" in query


def health_problem(state_dir: str | os.PathLike, endpoint_url: str, timeout: float = 3.0) -> str | None:
    """Why the sandbox in `state_dir` is not serving, or None when it answers an ordinary signed
    call (STS GetCallerIdentity as `HEALTH_PROFILE`, the way any client reaches it)."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    state = Path(state_dir)
    if not (state / "config").is_file() or not (state / "credentials").is_file():
        return f"its profiles are missing from {state}"
    core = botocore.session.Session()
    core.set_config_variable("config_file", str(state / "config"))
    core.set_config_variable("credentials_file", str(state / "credentials"))
    core.set_config_variable("profile", HEALTH_PROFILE)
    try:
        sts = make_client(core, "sts", endpoint_url=endpoint_url or None, region_name=REGION,
                          config=Config(connect_timeout=timeout, read_timeout=timeout), attempts=1)
        sts.get_caller_identity()
    except ClientError:
        return None  # it answered (a denial is an answer)
    except (BotoCoreError, ValueError):
        return f"{endpoint_url or 'its endpoint'} does not answer"
    return None


def _checked_delay(seconds: float) -> float:
    if not 0 <= seconds <= 3600:
        raise InputError(f"iam_delay: {seconds} is not a delay — use 0 to 3600 seconds (0 = no delay)")
    return float(seconds)


def _describe_owner(state_dir: Path) -> str:
    info = state_dir / "sandbox.json"
    try:
        pid = json.loads(info.read_text())["pid"]
        return f" (a sandbox started by pid {pid} may be running: see {info})"
    except (OSError, ValueError, KeyError):
        return ""


def load_running(state_dir: str | os.PathLike = DEFAULT_DIR) -> dict[str, Any] | None:
    """The description a running sandbox left in its folder, or None."""
    try:
        return json.loads((Path(state_dir) / "sandbox.json").read_text())
    except (OSError, ValueError):
        return None
