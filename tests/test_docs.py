"""The README is a quick start and the docs site (mkdocs.yml, docs/) builds strictly, stays inside
the repository, and says what the code does: every CLI subcommand and flag, the gallery's images,
the example status line and the CLI example as the sandbox's data really answer them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xacct_nb.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
MKDOCS_YML = ROOT / "mkdocs.yml"
MKDOCS = Path(sys.executable).with_name("mkdocs")

MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
MD_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def nav_files(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [f for item in node for f in nav_files(item)]
    if isinstance(node, dict):
        return [f for value in node.values() for f in nav_files(value)]
    return []


# --- the README ------------------------------------------------------------------------------------

def test_readme_is_a_quick_start():
    text = README.read_text()
    assert len(text.splitlines()) <= 250, "README.md is a quick start: move details into docs/"
    for needed in ("make demo", "make test", "make sandbox", "make lab", "xacct-nb lab --sandbox",
                   "xacct-nb sandbox", "confirm", "xacct-nb run ", "xacct-nb run-all", "runs/"):
        assert needed in text, needed
    assert "seed-article" not in text and "shared/reference" not in text, \
        "the README points at a file users of the repository do not have"


def test_readme_links_point_at_files_of_the_repository():
    for target in MD_LINK.findall(README.read_text()):
        assert not re.match(r"[a-z]+:", target), f"README links outside the repository: {target}"
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.exists(), f"README links to a missing file: {target}"


# --- the site --------------------------------------------------------------------------------------

def test_no_link_leaves_the_repository():
    for path in [README, MKDOCS_YML, *pages()]:
        found = re.findall(r"https?://\S+", path.read_text())
        assert not found, f"{path.relative_to(ROOT)} links outside the repository: {found}"


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    config = yaml.safe_load(MKDOCS_YML.read_text())
    in_nav = nav_files(config["nav"])
    assert len(in_nav) == len(set(in_nav)), "a page is listed twice in the nav"
    on_disk = {str(p.relative_to(DOCS)) for p in pages()}
    assert set(in_nav) == on_disk, (set(in_nav) ^ on_disk)
    for name in ("architecture.md", "notebooks.md", "install.md", "resource-policies.md", "moto-suites.md",
                 "tutorial.md", "batch.md", "cli.md", "grants.md", "sandbox.md", "large-tables.md",
                 "performance.md", "reliability.md", "threat-model.md", "gallery.md", "reference.md"):
        assert name in in_nav, name


def test_the_site_builds_strictly_with_no_link_out(tmp_path):
    assert MKDOCS.exists(), f"{MKDOCS} missing: install the docs extra (pip install -e '.[docs]')"
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([str(MKDOCS), "build", "--strict", "--quiet", "--site-dir", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    reference = (site / "reference" / "index.html").read_text()
    for name in ("RemoteTable", "load_spec", "plan", "apply", "assume", "verify_access", "XacctError"):
        assert f'id="xacct_nb.{name}"' in reference, f"the API reference lost {name}"
    for page in site.rglob("*.html"):
        # the only absolute URL allowed is the SVG namespace, which is an identifier, not a link
        out = set(re.findall(r"""(?:href|src)=["']?(https?://[^"' >]+)""", page.read_text()))
        assert not out, f"{page.relative_to(site)} links outside the site: {sorted(out)}"


def test_threat_model_page_carries_the_generated_block():
    text = (DOCS / "threat-model.md").read_text()
    assert text.count("<!-- authz-table:begin -->") == 1 and text.count("<!-- authz-table:end -->") == 1


# --- the CLI page is the parser's ------------------------------------------------------------------

def cli_sections() -> dict[str, str]:
    text = (DOCS / "cli.md").read_text()
    parts = re.split(r"^## `xacct-nb ([a-z-]+)`\s*$", text, flags=re.M)
    return {"": parts[0], **{parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}}


def subcommands() -> dict:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return dict(sub.choices)


def flags(parser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings if opt not in ("-h", "--help")}


def flag_cells(section: str) -> list[str]:
    """The first cells of a section's flag table (| flag | meaning |): where each flag is explained."""
    return [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]


FLAG = r"(?<![\w-]){}(?![\w-])"


def test_cli_page_explains_every_subcommand_and_every_flag():
    sections = cli_sections()
    commands = subcommands()
    assert set(sections) - {""} == set(commands), "sections of docs/cli.md differ from the subcommands"
    assert "--debug" in sections[""]
    for name, parser in commands.items():
        cells = " ".join(flag_cells(sections[name]))
        for flag in flags(parser):
            assert re.search(FLAG.format(re.escape(flag)), cells), \
                f"docs/cli.md: the table of `xacct-nb {name}` does not explain {flag}"


def test_cli_page_lists_no_flag_the_parser_does_not_have():
    for name, section in cli_sections().items():
        if not name:
            continue
        known = flags(subcommands()[name])
        for cell in flag_cells(section):
            for flag in re.findall(FLAG.format(r"(--?[a-z][a-z-]*)"), cell):
                assert flag in known, f"docs/cli.md: `xacct-nb {name}` lists {flag}, which it does not take"


# --- the gallery -----------------------------------------------------------------------------------

def test_gallery_shows_only_images_that_exist_and_all_of_them():
    gallery = DOCS / "gallery.md"
    shown = MD_IMAGE.findall(gallery.read_text())
    assert shown, "the gallery shows no image"
    for target in shown:
        path = (gallery.parent / target).resolve()
        assert path.is_file(), f"gallery.md shows a missing image: {target}"
        assert path.suffix == ".png" and path.stat().st_size <= 200_000, f"{target}: a small PNG please"
    committed = {p.resolve() for p in (DOCS / "gallery").glob("*.png")}
    assert committed == {(gallery.parent / t).resolve() for t in shown}, "an image in docs/gallery/ is not shown"


# --- examples are what the sandbox's data answers ----------------------------------------------------

# A sandbox of its own, in a process of its own: moto's state is per process, and a second
# in-process Sandbox would reset the one the rest of the suite shares.
_ANSWERS = """
import html, json, re, sys
from xacct_nb import RemoteTable
from xacct_nb.sandbox import Sandbox
from xacct_nb.widgets import ExplorerPanel

prefix, key, state = sys.argv[1], sys.argv[2], sys.argv[3]
with Sandbox(port=0, state_dir=state) as sb:
    panel = ExplorerPanel(sb.session("sandbox-main"), ["orders", "customers"], limit=500)  # 03: limit=500
    panel.table.value, panel.mode.value, panel.index.value = "orders", "query", "by_status"
    panel.key.value, panel.sort_op.value, panel.sort_value.value = "SHIPPED", "begins_with", prefix
    panel.filter.value = "quantity>5"
    ran = panel.run() is not None
    shown = html.unescape(re.sub(r"<[^>]+>", "", panel.status.value))
    df = RemoteTable(sb.session("sandbox-main"), "orders").query(key)
    meta = df.attrs["xacct"]
    print(json.dumps({"ran": ran, "error": panel.error, "status": shown,
                      "query": [len(df), meta["pages"], f"{meta['consumed_rcu']:g}"]}))
"""

STATUS = re.compile(r"(\d+ rows × \d+ columns — query orders · index by_status · key SHIPPED · sort begins_with "
                    r"(\S+) · filter quantity>5 — \d+ pages?, [\d.]+ RCU), [\d.]+ s — complete")
CLI_EXAMPLE = re.compile(r"\$ xacct-nb query --params params/local.yaml --table orders --key (\S+) --out \S+\n"
                         r"query orders: (\d+) rows, (\d+) pages, ([\d.]+) RCU, [\d.]+ s, complete")


@pytest.fixture(scope="module")
def documented_examples():
    documented = {m.group(1): m.group(2) for path in (README, DOCS / "tutorial.md")
                  for m in STATUS.finditer(path.read_text())}
    assert len(documented) == 1, f"README and the tutorial should show one status line: {documented}"
    cli = CLI_EXAMPLE.search(README.read_text())
    assert cli, "README lost its CLI example"
    return documented, cli


@pytest.fixture(scope="module")
def sandbox_answers(documented_examples, tmp_path_factory):
    """What a fresh sandbox, seeded as `xacct-nb sandbox` seeds it, answers to the examples."""
    documented, cli = documented_examples
    ((_, prefix),) = documented.items()
    done = subprocess.run([sys.executable, "-c", _ANSWERS, prefix, cli.group(1),
                           str(tmp_path_factory.mktemp("docs-sandbox"))],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_documented_status_line_is_what_the_panel_shows(documented_examples, sandbox_answers):
    ((line, _),) = documented_examples[0].items()
    assert sandbox_answers["ran"], sandbox_answers["error"]
    shown = sandbox_answers["status"]
    assert STATUS.fullmatch(shown) and STATUS.fullmatch(shown).group(1) == line, shown


def test_the_readme_cli_example_is_what_the_data_answers(documented_examples, sandbox_answers):
    _, rows, pages_, rcu = documented_examples[1].groups()
    assert sandbox_answers["query"] == [int(rows), int(pages_), rcu]
