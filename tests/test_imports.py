"""Imports sit at module top, where a reader sees a module's real dependencies. Inside a function
only: a heavy backend (imported where it is used, so the centre, the reports and ``--help``
never load it) and the few named places that keep a parent process light."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "openlfr"

#: Heavy backends, by top-level module.
HEAVY = {"cv2", "matplotlib", "faiss", "dlib", "yuface", "onnx", "onnxconverter_common",
         "onnxruntime", "motmetrics", "psycopg", "paho", "_posixshmem"}

#: (file under src/openlfr, function) whose imports stay inside it, and why.
PLACES = {
    ("api/__init__.py", "__getattr__"): "`import openlfr.api` stays light until the app is used",
    ("fleet/process.py", "camera_main"): "the camera child's stack; the node starting it stays "
                                         "light",
    ("inference/service.py", "_open_onnx"): "the models, opened in the service process",
}


def function_imports() -> list[tuple[str, str, str]]:
    """(file, function, module) of every import inside a function under src/openlfr."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom):
                    found.append((rel, fn.name, node.module or ""))
                elif isinstance(node, ast.Import):
                    found += [(rel, fn.name, a.name) for a in node.names]
    return found


def test_imports_inside_functions_are_only_heavy_backends_or_named_places() -> None:
    stray = sorted({f"{rel}: {name}() imports {module}"
                    for rel, name, module in function_imports()
                    if module.split(".")[0] not in HEAVY and (rel, name) not in PLACES})
    assert stray == [], "move these imports to the module top:\n" + "\n".join(stray)
