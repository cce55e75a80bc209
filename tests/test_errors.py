"""errors.py holds every exception class of the package; each survives pickle (errors cross Dask
process boundaries) with its attributes; its docstring draws the real class tree."""

from __future__ import annotations

import inspect
import pickle

import boto3
import pytest

import xacct_nb
from xacct_nb import errors
from xacct_nb.verify.model import AccessMatrix, Cell


def defined_in_errors() -> list[type[BaseException]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, BaseException) and c.__module__ == errors.__name__]


def tree(classes: list[type[BaseException]]) -> str:
    """The drawing: each class under its first base, other bases named after it; roots are the
    first bases from outside errors.py; siblings sorted by name."""
    def label(cls: type) -> str:
        text = cls.__name__
        if isinstance(getattr(cls, "exit_code", None), int):
            text += f" (exit {cls.exit_code})"
        others = [b.__name__ for b in cls.__bases__[1:]]
        return text + (f" (also {', '.join(others)})" if others else "")

    def children(parent: type) -> list[type]:
        return sorted((c for c in classes if c.__bases__[0] is parent), key=lambda c: c.__name__)

    lines: list[str] = []

    def draw(cls: type, prefix: str) -> None:
        kids = children(cls)
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            lines.append(prefix + ("└── " if last else "├── ") + label(kid))
            draw(kid, prefix + ("    " if last else "│   "))

    for root in sorted({c.__bases__[0] for c in classes if c.__bases__[0] not in classes},
                       key=lambda c: c.__name__):
        lines.append(root.__name__)
        draw(root, "")
    return "\n".join(lines)


def test_the_docstring_draws_the_real_class_tree():
    drawing = "\n".join("    " + line for line in tree(defined_in_errors()).splitlines())
    assert f"\n\n{drawing}\n\n" in errors.__doc__, f"errors.py's docstring should draw:\n{drawing}"


def test_no_exception_class_lives_outside_errors():
    # the package's modules, imported, define no exception class of their own (the sandbox's
    # answers subclass moto's error types and stay with it)
    import importlib
    import pkgutil

    import papermill  # noqa: F401  (first: papermill loads our papermill_hook as its entry point)

    outside = []
    for info in pkgutil.walk_packages(xacct_nb.__path__, "xacct_nb."):
        if info.name.startswith("xacct_nb.sandbox") or info.name in {"xacct_nb.errors", "xacct_nb.tables"}:
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        outside += [f"{info.name}.{name}" for name, cls in inspect.getmembers(module, inspect.isclass)
                    if issubclass(cls, BaseException) and cls.__module__ == info.name]
    assert outside == []


def test_every_error_is_exported_from_the_package():
    for cls in defined_in_errors():
        assert getattr(xacct_nb, cls.__name__) is cls
        assert cls.__name__ in xacct_nb.__all__


def matrix() -> AccessMatrix:
    return AccessMatrix(env="dev", role_arn="arn:aws:iam::111111111111:role/r", cells=(
        Cell("orders", "delete", "Read", "denied", "allowed", "FAIL"),
        Cell("orders", "get", "Read", "allowed", "allowed", "PASS")))


# one instance of every class in errors.py, built the way the package builds it
EXAMPLES: dict[str, BaseException] = {
    "XacctError": errors.XacctError("something\n failed — fix it"),
    "PartiQLMalformed": errors.PartiQLMalformed("Statement wasn't well formed, can't be processed: expected SELECT"),
    "NoPartiQLForm": errors.NoPartiQLForm("binary key values have no PartiQL literal here"),
    "InputError": errors.InputError("bad input — fix it"),
    "SpecError": errors.SpecError("tables[0].access_type", "is 'Fulll'", "use Read, ReadWriteUpdate or Full"),
    "ConfirmationRequired": errors.ConfirmationRequired("confirm the plan", plan=None),
    "AwsError": errors.AwsError("scan: Throttling", "ThrottlingException"),
    "AccessDenied": errors.AccessDenied("scan: access denied", "AccessDeniedException"),
    "RoleNotFound": errors.RoleNotFound("assume: the role does not exist", "NoSuchEntity"),
    "CredentialsExpired": errors.CredentialsExpired("expired", "ExpiredToken"),
    "ApplyInterrupted": errors.ApplyInterrupted("apply stopped", "Throttling", plan=None, done=["a"]),
    "ApplyDenied": errors.ApplyDenied("apply denied", "AccessDenied", done=["a", "b"]),
    "ExportChecksumError": errors.ExportChecksumError("s3://b/k: md5 differs", "ChecksumMismatch"),
    "ExtraMissing": errors.ExtraMissing("to_dask", "dask", "dask"),
    "ItemChanged": errors.ItemChanged(),
    "MotoMismatch": errors.MotoMismatch("moto 0.0.1 is installed, the sandbox needs 5.2.5"),
    "VerificationFailed": errors.VerificationFailed(matrix()),
    "StrictYamlError": errors.StrictYamlError("a.b", 3, 5, "duplicate key", "keep one", first="line 2"),
    "GarbledBody": errors.GarbledBody(operation="Scan", attempts=3, problem="cut short"),
    "ProjectionWarning": errors.ProjectionWarning("no item returned nope"),
}


def test_every_class_has_an_example():
    assert sorted(EXAMPLES) == sorted(c.__name__ for c in defined_in_errors())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_error_survives_pickle(name):
    err = EXAMPLES[name]
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err)
    assert back.args == err.args
    assert vars(back) == vars(err)  # field, code, plan, done, matrix... kept


def test_pickled_spec_error_keeps_its_field_and_exit_code():
    back = pickle.loads(pickle.dumps(EXAMPLES["SpecError"]))
    assert back.field == "tables[0].access_type" and back.exit_code == 2
    assert str(back) == "tables[0].access_type: is 'Fulll' — use Read, ReadWriteUpdate or Full"
    failed = pickle.loads(pickle.dumps(EXAMPLES["VerificationFailed"]))
    assert failed.matrix == matrix() and "orders/delete: expected denied, got allowed" in str(failed)


def test_the_panel_refuses_input_with_input_error():
    from xacct_nb.widgets import read

    session = boto3.Session(region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    with pytest.raises(errors.InputError, match="query needs a partition key value") as refused:
        read(session, "orders", mode="query", key="")
    assert refused.value.exit_code == 2
    with pytest.raises(errors.InputError, match="mode 'qurey' is neither"):
        read(session, "orders", mode="qurey", key="C1")
