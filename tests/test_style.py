"""Style is enforced, not hoped for: ruff (with pydocstyle, numpy convention) is clean on the package, and no
function in ``solarkataster/`` is longer than :data:`MAX_FUNCTION_LINES` lines."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "solarkataster"
#: "no function in solarkataster/ is longer than about 100 lines" (issue 10).
MAX_FUNCTION_LINES = 100


def _ruff():
    exe = Path(sys.executable).parent / "ruff"
    return str(exe) if exe.exists() else shutil.which("ruff")


def test_ruff_with_pydocstyle_is_clean():
    ruff = _ruff()
    if ruff is None:
        pytest.fail("ruff is not installed (it is in the [test] extra)")
    proc = subprocess.run([ruff, "check", "--output-format", "concise", str(PACKAGE)], capture_output=True,
                          text=True, cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def function_lengths(root=PACKAGE):
    """``(lines, path, name)`` of every function and method under ``root``."""
    rows = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                rows.append((node.end_lineno - node.lineno + 1, str(path.relative_to(root.parent)), node.name))
    return rows


def test_no_function_is_longer_than_100_lines():
    long = sorted((r for r in function_lengths() if r[0] > MAX_FUNCTION_LINES), reverse=True)
    assert not long, "functions over %d lines: %s" % (MAX_FUNCTION_LINES, long)
