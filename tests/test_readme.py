"""The README's Python examples run as written and give sane numbers.

They run from a folder in ``tmp_path`` that links ``sample_data`` (the README's paths are relative to the
repository root), so anything they write lands in ``tmp_path``, never in the repository.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_readme_python_examples_run(monkeypatch, tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 2, "the README shows the core API and the convenience calls"
    (tmp_path / "sample_data").symlink_to(REPO / "sample_data", target_is_directory=True)
    sample_before = sorted(os.listdir(REPO / "sample_data"))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    res = namespace["result"]
    # a flat open roof of the sample town gets about the clear-sky GHI; nothing exceeds the best plane
    assert 1200 < np.nanmedian(res.global_) < 2300
    # the convenience call runs on the default weather (the region's DWD TRY): open flat pixels get its annual
    # GHI, well below the clear sky of the core example
    conv = namespace["res"].irradiation
    flat = (namespace["tilt"] < 2.0) & (conv.sky_view_factor > 0.99)
    assert flat.sum() > 100
    assert np.median(conv.global_[flat]) == pytest.approx(namespace["res"].weather.annual_ghi(), rel=0.02)
    assert np.median(conv.global_[flat]) < 0.75 * np.median(res.global_[flat])
    assert len(namespace["cad"].roofs) > 20
    assert os.getcwd() == str(tmp_path)
    assert sorted(os.listdir(REPO / "sample_data")) == sample_before
