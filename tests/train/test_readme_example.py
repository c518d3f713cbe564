"""README's "Using the library" example runs as pasted (scaled down: fewer samples and steps)."""

from __future__ import annotations

import os

import pytest

import qdjax as qd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_readme_library_example_runs_and_refuses_other_settings(tmp_path, monkeypatch):
    # The first ```python block of README's "Using the library", scaled down (fewer samples
    # and steps, the workdir in tmp_path), run as a user would paste it.
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Using the library", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    for old, new in [
        ("num_samples=20_000", "num_samples=2_000"),
        ("num_steps=3000", "num_steps=20"),
    ]:
        assert old in code, f"README example no longer has {old}; update this test"
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    printed = []
    namespace = {"print": lambda *a: printed.append(a)}
    exec(compile(code, "README.md", "exec"), namespace)
    assert len(printed) == 1 and 0.0 <= float(printed[0][0]) <= 1.0
    assert namespace["result"].step == 20
    # the same code with another learning rate is refused, not resumed
    with pytest.raises(qd.train.CheckpointMismatchError, match="lr"):
        exec(compile(code.replace('"lr": 1e-3', '"lr": 3e-3'), "README.md", "exec"), namespace)
