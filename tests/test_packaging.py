"""How docagent installs: the app and the connectors under names of their own, every library package shipped,
and the layers importing only downwards."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_app_and_connectors_install_under_names_that_cannot_collide(tmp_path: Path) -> None:
    """A user's own `app` and `connectors` packages win over nothing of ours: docagent installs no such names.
    Run from a folder that holds the user's packages, as their project would."""
    for name in ("app", "connectors"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"WHO = 'the user {name}'\n")
    probe = (
        "import app, connectors, docagent_app.commands, docagent_connectors.http_api\n"
        "print(app.WHO, '|', connectors.WHO, '|', docagent_app.commands.__name__, '|', docagent_connectors.http_api.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.split(" | ") == ["the user app", "the user connectors", "docagent_app.commands", "docagent_connectors.http_api\n"]

    # and with no such folders around, `import app` finds nothing of ours
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    for name in ("app", "connectors"):
        gone = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=empty, capture_output=True, text=True)
        assert gone.returncode == 1 and "No module named" in gone.stderr


def test_every_library_package_is_shipped() -> None:
    """pyproject lists the packages explicitly (the app and connectors are renamed): a new subpackage under
    docagent/ that is not listed would be missing from a wheel."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "docagent").rglob("__init__.py")
    }
    assert on_disk <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(on_disk - listed)}"
    assert {"docagent_app", "docagent_connectors"} <= listed


def test_package_data_is_shipped() -> None:
    """Files the library reads at run time (the glossary) are declared as package data, else a wheel lacks them."""
    import fnmatch

    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["docagent"]
    data = [p.relative_to(ROOT / "docagent").as_posix() for p in (ROOT / "docagent" / "data").rglob("*") if p.is_file()]
    assert data and all(any(fnmatch.fnmatch(d, pat) for pat in patterns) for d in data), data


def _imports(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
    return names


def test_the_library_imports_neither_the_app_nor_the_connectors() -> None:
    used = _imports(ROOT / "docagent")
    assert not used & {"app", "connectors", "docagent_app", "docagent_connectors", "streamlit", "fastapi"}


def _declared_distributions() -> set[str]:
    from packaging.requirements import Requirement

    project = _pyproject()["project"]
    wanted = list(project["dependencies"]) + [r for group in project["optional-dependencies"].values() for r in group]
    return {Requirement(r).name.lower().replace("_", "-") for r in wanted}


def test_every_package_the_code_imports_is_declared() -> None:
    """A module imported by the library, the app or the connectors comes from a distribution pyproject names (in
    the dependencies or an extra): one installed by hand on a developer's machine is missing from every clean
    install, and the import fails only there (snowballstemmer, imported by the PostgreSQL catalog, once was)."""
    import importlib.metadata as md

    own = {"docagent", "docagent_app", "docagent_connectors", "app", "connectors", "tests", "benchmarks"}
    providers = md.packages_distributions()
    declared = _declared_distributions()
    missing: dict[str, list[str]] = {}
    for folder in ("docagent", "app", "connectors"):
        for module in sorted(_imports(ROOT / folder) - own - set(sys.stdlib_module_names) - {"__future__"}):
            dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
            if not dists & declared:
                missing.setdefault(module, sorted(dists) or ["(not installed)"])
    assert not missing, f"declare in pyproject.toml (module: distributions providing it): {missing}"
