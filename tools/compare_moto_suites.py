"""Run moto's own test suites twice — stock, then with the sandbox's patches applied — and list
the tests whose outcome differs.

    .venv/bin/python tools/compare_moto_suites.py MOTO_SOURCE [TEST_PATH ...] [--timeout SECONDS]

MOTO_SOURCE is a checkout or unpacked sdist of moto at the pinned version (5.2.5); only its
`tests/` folder is used. The tests import the INSTALLED moto (this script runs them from a copy of
`tests/` alone, so the checkout's own `moto/` package can never shadow it). Default test paths:
moto's DynamoDB, IAM and STS suites and `tests/test_core/test_auth.py`. Extra packages the suites
need (freezegun) may be put on PYTHONPATH by the caller.

The "patched" run loads a pytest plugin that calls `xacct_nb.sandbox.patches.apply()` before any
test imports moto's handlers: the same fixes the sandbox installs in its server. Results are
compared per test id (pytest's JUnit XML); the counts and each differing test are printed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

DEFAULT_PATHS = ("tests/test_dynamodb", "tests/test_iam", "tests/test_sts", "tests/test_core/test_auth.py")
PLUGIN = '''"""pytest plugin: apply the xacct-nb sandbox patches to the installed moto."""
from xacct_nb.sandbox import patches

patches.apply()
try:  # freezegun walks every loaded module's attributes: xacct_nb's lazy ones import pandas
    import freezegun
    freezegun.configure(extend_ignore_list=["xacct_nb"])
except ImportError:
    pass
'''


def outcomes(junit: Path) -> dict[str, str]:
    """test id -> passed / failed / error / skipped, from pytest's JUnit XML."""
    found: dict[str, str] = {}
    if not junit.exists():
        return found
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        states = {child.tag for child in case}
        state = next((s for s in ("error", "failure", "skipped") if s in states), "passed")
        found[test_id] = {"failure": "failed"}.get(state, state)
    return found


def run(tests_copy: Path, paths: list[str], junit: Path, plugin_dir: Path | None,
        timeout: float) -> tuple[int, float]:
    import os
    import time

    env = dict(os.environ)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            "-o", "addopts=", "--junitxml", str(junit), *paths]
    if plugin_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_dir), env.get("PYTHONPATH")]))
        args[3:3] = ["-p", "xacct_sandbox_patches"]
    started = time.monotonic()
    try:
        done = subprocess.run(args, cwd=tests_copy, env=env, timeout=timeout,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        code = done.returncode
    except subprocess.TimeoutExpired:
        code = -1
    return code, time.monotonic() - started


def summary(found: dict[str, str]) -> str:
    counts = {state: sum(1 for s in found.values() if s == state)
              for state in ("passed", "failed", "error", "skipped")}
    return ", ".join(f"{n} {state}" for state, n in counts.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("moto_source", type=Path)
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS))
    parser.add_argument("--timeout", type=float, default=3000.0, help="seconds per run")
    parser.add_argument("--keep", type=Path, help="keep the JUnit XML files in this folder")
    args = parser.parse_args(argv)
    if not (args.moto_source / "tests").is_dir():
        print(f"{args.moto_source}: no tests/ folder — pass a moto checkout or unpacked sdist")
        return 2
    with tempfile.TemporaryDirectory(prefix="moto-suites-") as tmp:
        work = Path(tmp)
        tests_copy = work / "suite"
        shutil.copytree(args.moto_source / "tests", tests_copy / "tests")  # tests only: no moto/
        (work / "plugin").mkdir()
        (work / "plugin" / "xacct_sandbox_patches.py").write_text(PLUGIN)
        results = {}
        for label, plugin in (("stock", None), ("patched", work / "plugin")):
            junit = (args.keep or work) / f"moto-{label}.xml"
            code, seconds = run(tests_copy, args.paths, junit, plugin, args.timeout)
            results[label] = outcomes(junit)
            print(f"{label:8}: {summary(results[label])} (pytest exit {code}, {seconds:.0f} s)")
    stock, patched = results["stock"], results["patched"]
    for path in args.paths:  # per suite, as given on the command line
        prefix = path.removesuffix(".py").replace("/", ".")
        mine = {label: {t: s for t, s in found.items() if t.startswith(prefix)} for label, found in results.items()}
        print(f"  {path}: stock {summary(mine['stock'])}; patched {summary(mine['patched'])}")
    differing = sorted(t for t in stock.keys() | patched.keys() if stock.get(t) != patched.get(t))
    print(f"differing: {len(differing)}")
    for test_id in differing:
        print(f"  {test_id}: {stock.get(test_id, 'absent')} -> {patched.get(test_id, 'absent')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
