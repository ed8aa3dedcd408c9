"""The package's import graph follows DESIGN.md: dependencies point down the pipeline.

Every module under tempssl/ is parsed (nothing is imported) and every import is collected, at
the top level and inside functions alike, relative ones resolved: a function-level import is a
dependency too, it only runs later.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tempssl"

# module prefix -> prefixes it must never import (DESIGN.md, "Packages and their one job").
FORBIDDEN = {
    # `eval` and `engine` never import each other in a circle: the trainer runs online kNN through
    # eval, so eval never imports engine (what both need, such as building a run's network from
    # its config or the checkpoint layout, is tempssl.build / tempssl.checkpoint, below both).
    "tempssl.eval": ("tempssl.engine",),
    "tempssl.methods": ("tempssl.engine", "tempssl.eval"),  # methods know nothing of the loop
    "tempssl.data": ("tempssl.methods", "tempssl.engine", "tempssl.eval"),
    "tempssl.models": (
        "tempssl.data",
        "tempssl.losses",
        "tempssl.methods",
        "tempssl.engine",
        "tempssl.eval",
    ),
    "tempssl.losses": ("tempssl.methods", "tempssl.engine", "tempssl.eval"),
}
# Everything else (config, schema, registry, build, checkpoint, ...) sits below engine and eval.
BELOW_ENGINE_AND_EVAL = ("tempssl.engine", "tempssl.eval")
# `video` imports nothing of ours but itself.
SELF_CONTAINED = ("tempssl.video",)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_name(path: Path, root: Path) -> str:
    """`root/tempssl/eval/extract.py` -> `tempssl.eval.extract` (`root/tempssl`'s parent is `root`)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, root: Path) -> list[tuple[int, str]]:
    """`(line, module)` for every import in `path`; `from a import b` gives both `a` and `a.b`
    (b may be a submodule), and `importlib.import_module("...")` with a literal counts too."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def violations(root: Path = PACKAGE) -> list[str]:
    """Every import of the package at `root` that breaks a rule above, as `file:line: a imports b
    (rule)`, one per statement and rule."""
    problems = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        for line, name in imported_names(path, root):
            if not _within(name, "tempssl"):
                continue
            rules = [
                f"{prefix} imports nothing of tempssl but itself"
                for prefix in SELF_CONTAINED
                if _within(module, prefix) and not _within(name, prefix)
            ]
            rules += [
                f"{prefix} never imports {f}"
                for prefix, forbidden in FORBIDDEN.items()
                if _within(module, prefix)
                for f in forbidden
                if _within(name, f)
            ]
            if not any(_within(module, p) for p in BELOW_ENGINE_AND_EVAL):
                rules += [
                    f"only engine and eval import {p}: the rest sits below both"
                    for p in BELOW_ENGINE_AND_EVAL
                    if _within(name, p)
                ]
            file = path.relative_to(root.parent).as_posix()
            for rule in rules:  # `from a import b` names a and a.b: report the statement once
                problems.setdefault(
                    (file, line, rule), f"{file}:{line}: {module} imports {name} ({rule})"
                )
    return [problems[key] for key in sorted(problems)]


def test_the_package_follows_the_dependency_rules():
    assert PACKAGE.is_dir()
    assert violations() == []


def test_the_graph_covers_what_it_claims_to():
    """The parser sees the imports that the rules are about (so an empty list means something)."""
    names = {name for path in PACKAGE.rglob("*.py") for _, name in imported_names(path, PACKAGE)}
    assert {"tempssl.eval.extract", "tempssl.build", "tempssl.checkpoint", "tempssl.video"} <= names


def _package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / "tempssl" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "tempssl"


def test_function_level_relative_and_dynamic_imports_are_caught(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "atomic.py": "",
            "eval/__init__.py": "",
            "eval/extract.py": "def f():\n    from tempssl.engine.build import initial_model\n",
            "video/__init__.py": "from ..atomic import write_atomic\n",
            "video/reader.py": "from . import errors\nfrom .errors import VideoError\n",
            "methods/tcn.py": "import importlib\nimportlib.import_module('tempssl.eval.knn')\n",
            "data/dataset.py": "from tempssl import methods\n",
            "build.py": "from tempssl.engine import trainer\n",
            "engine/online_eval.py": "from tempssl.eval.knn import knn_accuracy\n",
        },
    )
    found = violations(root)
    expected = [
        ("tempssl/build.py:1", "tempssl.engine (only engine and eval import tempssl.engine"),
        ("tempssl/data/dataset.py:1", "tempssl.methods (tempssl.data never imports tempssl.methods)"),
        (
            "tempssl/eval/extract.py:2",
            "tempssl.engine.build (tempssl.eval never imports tempssl.engine)",
        ),
        ("tempssl/methods/tcn.py:2", "tempssl.eval.knn (only engine and eval import tempssl.eval"),
        ("tempssl/methods/tcn.py:2", "tempssl.eval.knn (tempssl.methods never imports tempssl.eval)"),
        ("tempssl/video/__init__.py:1", "tempssl.atomic (tempssl.video imports nothing of tempssl"),
    ]
    assert len(found) == len(expected), found
    for problem, (where, what) in zip(found, expected, strict=True):
        assert problem.startswith(f"{where}: ") and f" imports {what}" in problem, problem
