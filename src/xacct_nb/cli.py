"""`xacct-nb` — one entry point, thin subcommands over the library.

Exit codes: 0 success; 1 an AWS failure (or a verification FAIL); 2 refused or invalid input
(nothing was changed). Errors are one line on stderr; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse
import sys
import time

from .errors import XacctError


def cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import PROFILES, Sandbox

    counts = {"orders": args.orders, "customers": 50, "payments": 20}
    sb = Sandbox(port=args.port, state_dir=args.dir, counts=counts, enforce=not args.no_enforce)
    sb.start()
    try:
        print(f"sandbox: moto on {sb.endpoint_url}, IAM enforcement "
              f"{'off' if args.no_enforce else 'on'}; state in {sb.state_dir}")
        for profile, (account, user) in PROFILES.items():
            print(f"  profile {profile:<18} account {sb.accounts[account]}  user {user}")
        print("Point boto3 / the AWS CLI / notebooks at it with:")
        print(sb.export_lines())
        print("Ctrl-C stops it (its state is in memory and goes with it).", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nsandbox stopped")
    finally:
        sb.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .sandbox import DEFAULT_DIR, DEFAULT_PORT

    parser = argparse.ArgumentParser(
        prog="xacct-nb",
        description="Grant one AWS account precise access to another's DynamoDB tables, then read them.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("sandbox", help="run the local three-account AWS sandbox (moto) until Ctrl-C")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"loopback port (default {DEFAULT_PORT})")
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"folder for config/credentials (default {DEFAULT_DIR})")
    p.add_argument("--orders", type=int, default=2000, help="items seeded into the orders table")
    p.add_argument("--no-enforce", action="store_true", help="leave IAM enforcement off (debugging only)")
    p.set_defaults(func=cmd_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except XacctError as err:
        if args.debug:
            raise
        print(f"xacct-nb: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("xacct-nb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
