"""The package layout the code relies on, read from the source (every import, lazy ones too):
the crawler never imports the replica site, browser set-up and page scanning import one way,
cli.py names every command module, and the shared names are defined once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP_PARTS = {".git", ".venv", ".venvs", "datasets", "build", "__pycache__", ".pytest_cache", "peer_scripts"}


def python_files(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (REPO / root).rglob("*.py")
                  if not SKIP_PARTS.intersection(p.relative_to(REPO).parts))


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement in the file names, at any depth (function-level too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imports_package(path: Path, package: str) -> bool:
    return any(name == package or name.startswith(f"{package}.") for name in imported_modules(path))


def test_the_crawler_package_does_not_import_the_replica_site() -> None:
    offenders = [p.relative_to(REPO).as_posix() for p in python_files("crawler") if imports_package(p, "replica")]
    assert offenders == [], f"crawler/ is only what crawls; these import the replica: {offenders}"
    assert not (REPO / "crawler" / "replica").exists()


def test_the_replica_only_borrows_from_the_crawler_what_it_imitates() -> None:
    """The replica may import crawler's errors and engines (their page names), nothing that runs a crawl."""
    allowed = ("crawler.errors", "crawler.engines")
    borrowed = {name for p in python_files("replica") for name in imported_modules(p)
                if name.startswith("crawler")}
    assert borrowed and all(name.startswith(allowed) for name in borrowed), borrowed


def test_browser_set_up_and_page_scanning_import_one_way() -> None:
    browser, scan = REPO / "crawler" / "browser.py", REPO / "crawler" / "scan.py"
    assert imports_package(scan, "crawler.browser")
    assert not imports_package(browser, "crawler.scan")
    assert not imports_package(browser, "crawler.engines"), "driver set-up does not know about engines"
    assert "def search_candidates" in scan.read_text() and "def open_browser" in browser.read_text()


def command_modules() -> set[str]:
    """Every module that contributes commands through `register(app)`."""
    found = set()
    for path in python_files("workspace", "crawler", "replica", "curation", "training", "selftrain",
                             "demo", "cluster"):
        if re.search(r"^def register\(app", path.read_text(encoding="utf-8"), re.M):
            found.add(".".join(path.relative_to(REPO).with_suffix("").parts))
    return found


def test_cli_imports_every_command_module_by_name_without_importlib() -> None:
    source = (REPO / "cli.py").read_text(encoding="utf-8")
    assert "importlib" not in source, "cli.py imports its command modules explicitly (go-to-definition works)"
    modules = command_modules()
    assert len(modules) >= 10, modules
    missing = sorted(m for m in modules if m not in imported_modules(REPO / "cli.py"))
    assert missing == [], f"command modules cli.py does not import: {missing}"


def test_command_modules_do_not_borrow_from_each_other() -> None:
    """Shared printers live in workspace/tables.py, not in another command module."""
    modules = command_modules()
    borrowing = {m: sorted(modules & imported_modules(REPO / (m.replace('.', '/') + '.py')))
                 for m in modules}
    assert {m: b for m, b in borrowing.items() if b} == {}


@pytest.mark.parametrize("pattern, home", [
    (r"^Progress\s*=", "workspace/progress.py"),
    (r"^IMAGE_SUFFIXES\s*=", "workspace/imagecheck.py"),
    (r"^KNOWN_ENGINES\s*=", None),
])
def test_shared_names_are_defined_once(pattern: str, home: str | None) -> None:
    homes = [p.relative_to(REPO).as_posix() for p in python_files(".")
             if re.search(pattern, p.read_text(encoding="utf-8"), re.M)]
    assert homes == ([home] if home else []), homes


def test_engine_names_come_from_the_registry() -> None:
    from crawler.engines import ENGINES
    from workspace.config import known_engines

    assert known_engines() == tuple(ENGINES)


def test_the_replica_serves_only_formats_harvest_decodes() -> None:
    from crawler.engines.page import IMAGE_LINK_SUFFIXES
    from replica.results import SERVED_TYPES
    from workspace.imagecheck import IMAGE_SUFFIXES

    assert set(SERVED_TYPES) < set(IMAGE_SUFFIXES) < set(IMAGE_LINK_SUFFIXES)


def test_code_and_docs_name_modules_not_authors() -> None:
    author = re.compile(r"\bhelper [A-Z]\b|not there yet")
    texts = python_files(".") + sorted(REPO.glob("*.md")) + [REPO / "Makefile"]
    offenders = [p.relative_to(REPO).as_posix() for p in texts
                 if p != Path(__file__) and author.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
