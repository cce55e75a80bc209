"""The sandbox refuses a moto its patches were not written for (sandbox/guard.py)."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import xacct_nb.sandbox as sandbox_package
from xacct_nb.sandbox import Sandbox, guard, patches
from xacct_nb.sandbox.guard import MOTO_PIN, TARGETS, MotoMismatch, Target

ROOT = Path(__file__).resolve().parents[1]
SANDBOX_SRC = str(Path(sandbox_package.__file__).parent)


def test_the_pin_is_pyprojects():
    pins = re.findall(r'"moto\[server\]==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pins == [MOTO_PIN]


def test_installed_moto_has_every_target_as_the_patches_expect():
    # a fresh process: in this one the targets are already replaced by the patches
    code = "from xacct_nb.sandbox import guard; print(guard.problems())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_another_moto_version_is_refused_in_one_line():
    with pytest.raises(MotoMismatch) as refused:
        guard.check(TARGETS[:1], installed="5.3.0")
    message = str(refused.value)
    assert "moto 5.3.0 is installed" in message and f"moto[server]=={MOTO_PIN}" in message
    assert "\n" not in message and refused.value.exit_code == 2


def test_a_renamed_target_is_refused_naming_the_patch():
    renamed = Target("patches 4 (account principals)", "moto.iam.access_control",
                     "IAMPolicyStatement._check_principal_renamed", ("self", "principal"))
    with pytest.raises(MotoMismatch, match=r"sandbox patch patches 4 \(account principals\) cannot be "
                                           r"applied: .*_check_principal_renamed is gone"):
        guard.check((renamed,), installed=MOTO_PIN)
    with pytest.raises(MotoMismatch, match="module moto.iam.gone is gone"):
        guard.check((renamed._replace(module="moto.iam.gone"),), installed=MOTO_PIN)


def test_a_changed_signature_is_refused_naming_the_patch():
    changed = Target("patches_capacity (read units)", "moto.dynamodb.models.table", "Table.scan",
                     ("self", "filters", "limit"))
    with pytest.raises(MotoMismatch) as refused:
        guard.check((changed,), installed=MOTO_PIN)
    assert "patches_capacity (read units)" in str(refused.value) and "now takes (" in str(refused.value)


def test_the_sandbox_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.setattr(guard, "_checked", False)
    monkeypatch.setattr(guard, "MOTO_PIN", "0.0.1")
    with pytest.raises(MotoMismatch, match="written for moto 0.0.1"):
        Sandbox(port=0, state_dir=tmp_path, seed=False).start()
    assert not (tmp_path / "sandbox.json").exists() and not (tmp_path / "control-token").exists()


def test_every_replaced_moto_attribute_is_guarded():
    """Walk moto's loaded modules after the patches are applied: whatever is now the sandbox's
    code must be in guard.TARGETS (a new patch without a guard entry fails here)."""
    patches.apply()
    replaced = set()
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("moto.") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if inspect.isclass(value) and value.__module__ == module_name:
                for name, member in vars(value).items():
                    if callable(member) and getattr(member, "__code__", None) is not None \
                            and member.__code__.co_filename.startswith(SANDBOX_SRC):
                        replaced.add((module_name, f"{attr}.{name}"))
            elif inspect.isclass(value) and value.__module__.startswith("xacct_nb."):
                replaced.add((module_name, attr))
    guarded = {(t.module, t.name) for t in TARGETS}
    assert replaced, "the walk found no patch at all: it would pass vacuously"
    assert replaced - guarded == set()
