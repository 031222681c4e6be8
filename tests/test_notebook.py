"""The notebooks run from top to bottom in a fresh kernel, draw their figures and show their tables."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

QUICKSTART = REPO / "notebooks" / "01_quickstart.ipynb"
ECONOMICS = REPO / "notebooks" / "02_economics.ipynb"


@pytest.mark.parametrize("notebook", [QUICKSTART, ECONOMICS], ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(notebook):
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 4
    for cell in code:
        assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.fixture(scope="module")
def kernel_name():
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        spec = None
    if spec is None:  # install the venv's ipykernel for the current user
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3"], check=True)
    return "python3"


def executed(notebook, kernel_name, tmp_path):
    """Run ``notebook`` in ``tmp_path/notebooks`` (sample_data linked beside it); returns its outputs and texts.

    Anything the notebook writes lands under ``tmp_path``; a failing cell raises ``CellExecutionError``.
    """
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(notebook, as_version=4)
    (tmp_path / "sample_data").symlink_to(REPO / "sample_data", target_is_directory=True)
    (tmp_path / "notebooks").mkdir()
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name=kernel_name,
                                     resources={"metadata": {"path": str(tmp_path / "notebooks")}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    tables = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return images, tables, text


def test_quickstart_notebook_runs_and_draws(kernel_name, tmp_path):
    images, tables, text = executed(QUICKSTART, kernel_name, tmp_path)
    assert len(images) == 1  # the map
    assert tables and "face_id" in tables[-1] and "yield_kwh" in tables[-1]
    assert tables[-1].count("<tr") >= 11  # header + the ten best faces
    assert "16 buildings" in text


def test_economics_notebook_runs_and_draws(kernel_name, tmp_path):
    images, tables, text = executed(ECONOMICS, kernel_name, tmp_path)
    assert len(images) == 2  # the two weeks, battery size vs autarky
    assert "16 buildings" in text and "autarky without battery" in text
    assert tables and "autarky_share" in tables[-1] and tables[-1].count("<tr") >= 17  # header + 16 sizes
