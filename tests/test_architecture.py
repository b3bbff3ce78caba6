"""The codebase's shape: stage subpackages whose imports point one way, rule scripts that need no
path edits, one home for exceptions, and ruff / snakefmt / Snakemake's linter all clean."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

LIB = REPO / "workflow_scripts" / "pcinpaint"
#: pipeline stages in order: a stage may import the shared modules and earlier stages only
STAGES = ("inputs", "crops", "model", "features", "benchmarks", "exploratory", "figures")
SHARED = ("config", "errors", "image_refs", "io", "resources", "rule_keys", "runlog", "table_roles", "targets")
#: stage modules of plain numbers that shared modules may read (the network's layer widths, so
#: the cost table sizes feature tables from the one definition); they import nothing of their own
NUMBERS = ("pcinpaint.model.spec",)
#: input adapters, which share helpers (files, samplesheet, annotations) but not each other
ADAPTERS = ("simulate", "hpa", "yeast_screen", "plate", "crop_folders", "labelled_hdf5")


def _modules():
    return sorted(p for p in LIB.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(LIB).with_suffix("").parts
    return ".".join(("pcinpaint",) + tuple(p for p in parts if p != "__init__"))


def _imported(path: Path) -> set[str]:
    """pcinpaint modules a file imports (``from pcinpaint.x import y`` counts x and x.y)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; the library uses absolute imports"
            if node.module and node.module.split(".")[0] == "pcinpaint":
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "pcinpaint"}
    return found


def _rank(module: str) -> int:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in SHARED or parts[1] == "schemas":
        return -1
    return STAGES.index(parts[1]) if parts[1] in STAGES else -1


def test_library_lists_the_stage_folders():
    folders = {p.name for p in LIB.iterdir() if p.is_dir() and p.name not in ("__pycache__", "schemas")}
    assert folders == set(STAGES)
    flat = {p.stem for p in LIB.glob("*.py")} - {"__init__"}
    assert flat <= set(SHARED) | {"configdoc"}, flat - set(SHARED)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: _name(p))
def test_imports_point_one_way(path):
    me = _name(path)
    for other in _imported(path):
        if not (
            LIB.joinpath(*other.split(".")[1:]).with_suffix(".py").exists()
            or LIB.joinpath(*other.split(".")[1:], "__init__.py").exists()
        ):
            continue  # a name imported from a module, counted with its module
        if _rank(me) == -1:
            assert _rank(other) == -1 or other in NUMBERS, f"{me} is shared but imports stage code {other}"
        else:
            assert _rank(other) <= _rank(me), f"{me} imports the later stage {other}"
        if me.startswith("pcinpaint.inputs.") and me.rsplit(".", 1)[1] in ADAPTERS:
            target = other.split(".")
            if len(target) > 2 and target[1] == "inputs" and target[2] in ADAPTERS:
                assert target[2] == me.rsplit(".", 1)[1], f"adapter {me} imports adapter {other}"


@pytest.mark.parametrize("module", NUMBERS)
def test_modules_of_numbers_import_nothing_of_their_own(module):
    path = LIB.joinpath(*module.split(".")[1:]).with_suffix(".py")
    tree = ast.parse(path.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "dataclasses"}, imported


def test_exception_classes_live_in_errors():
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if any(b.endswith(("Error", "Exception")) for b in bases):
                    assert path.name == "errors.py", f"{path}: exception class {node.name} outside errors.py"


def test_rule_scripts_need_no_path_edits_or_lint_exemptions():
    for script in (REPO / "workflow_scripts").glob("*.py"):
        text = script.read_text()
        assert "sys.path" not in text, script
        assert not re.search(r"noqa: *(F821|E402)", text), script


def _tool(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True)


def test_ruff_lint_and_format_are_clean():
    lint = _tool("ruff", "check", "--no-cache", ".")
    assert lint.returncode == 0, lint.stdout[-3000:]
    fmt = _tool("ruff", "format", "--check", "--no-cache", ".")
    assert fmt.returncode == 0, fmt.stdout[-3000:]


def test_snakefmt_is_clean():
    proc = _tool("snakefmt", "--check", "Snakefile", "rules")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
