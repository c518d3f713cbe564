"""Documents quote measured numbers only from results files that say how they were made.

Two rules, checked over the repository (no training, < 1 s):

1. Every results table `experiments/*/results/*.md` states the commit (`commit <sha>`) and
   the command (a ```bash block or a `python -m ...` line) that produced it.
2. In a README, a block opened by `<!-- numbers from: results/a.md results/b.json -->` and
   closed by `<!-- /numbers -->` may only quote numbers found in those files (paths
   relative to the README): each decimal number in the block must equal a number of the
   files at the block's printed precision (or the file's number times 100, for percents).
   Numbers outside such blocks are not checked; put every table of measured results in one.

Run `python -m tests.train.test_documents` to list the problems.
"""

from __future__ import annotations

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLOCK = re.compile(r"<!--\s*numbers from:\s*(.*?)\s*-->(.*?)<!--\s*/numbers\s*-->", re.S)
NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?![\w.])")
COMMIT = re.compile(r"\bcommit\s+`?[0-9a-f]{7,40}\b", re.I)
COMMAND = re.compile(r"```bash|python -m \w", re.I)


def _numbers(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text)]


def _matches(quoted: str, candidates: list[float]) -> bool:
    decimals = len(quoted.split(".")[1])
    value = float(quoted)
    tol = 0.5 * 10**-decimals + 1e-12
    return any(abs(c - value) <= tol or abs(100 * c - value) <= tol for c in candidates)


def quoted_number_problems(readme: str) -> list[str]:
    """Numbers of `readme`'s `numbers from:` blocks that its results files do not hold."""
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    problems = []
    base = os.path.dirname(readme)
    for sources, body in BLOCK.findall(text):
        candidates: list[float] = []
        for rel in sources.split():
            path = os.path.join(base, rel)
            if not os.path.exists(path):
                problems.append(f"{readme}: results file {rel} does not exist")
                continue
            with open(path, encoding="utf-8") as f:
                candidates += _numbers(f.read())
        for quoted in NUMBER.findall(body):
            if not _matches(quoted, candidates):
                problems.append(f"{readme}: {quoted} is not in {sources}")
    return problems


def results_header_problems(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    problems = []
    if not COMMIT.search(text):
        problems.append(f"{path}: does not state the commit (`commit <sha>`)")
    if not COMMAND.search(text):
        problems.append(f"{path}: does not state the command (```bash block or python -m ...)")
    return problems


def _readmes() -> list[str]:
    return [
        os.path.join(ROOT, "README.md"),
        *glob.glob(os.path.join(ROOT, "experiments/*/README.md")),
    ]


def test_results_tables_state_commit_and_command():
    problems = []
    for path in sorted(glob.glob(os.path.join(ROOT, "experiments/*/results/*.md"))):
        problems += results_header_problems(path)
    assert not problems, "\n".join(problems)


def test_readme_numbers_come_from_results_files():
    problems = [p for readme in _readmes() for p in quoted_number_problems(readme)]
    assert not problems, "\n".join(problems)
    synthetic = os.path.join(ROOT, "experiments/synthetic/README.md")
    with open(synthetic, encoding="utf-8") as f:
        assert BLOCK.search(f.read()), "the synthetic README's results table is not checked"


def test_checker_catches_a_stale_number(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "t.md").write_text("| ae | 86.53 ± 5.8 |\n", encoding="utf-8")
    (tmp_path / "r.json").write_text('{"mcc": 0.8653, "std": 0.0581}', encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(
        "<!-- numbers from: results/t.md r.json -->\n| 86.5 ± 5.8 | 0.865 | 0.87 |\n"
        "<!-- /numbers -->\n0.123 outside is free\n",
        encoding="utf-8",
    )
    assert quoted_number_problems(str(readme)) == []
    readme.write_text(
        "<!-- numbers from: results/t.md -->\n| 86.4 ± 5.8 |\n<!-- /numbers -->\n",
        encoding="utf-8",
    )
    assert quoted_number_problems(str(readme)) == [f"{readme}: 86.4 is not in results/t.md"]
    assert results_header_problems(str(tmp_path / "results" / "t.md")) == [
        f"{tmp_path}/results/t.md: does not state the commit (`commit <sha>`)",
        f"{tmp_path}/results/t.md: does not state the command (```bash block or python -m ...)",
    ]


if __name__ == "__main__":
    found = [p for r in _readmes() for p in quoted_number_problems(r)]
    for path in sorted(glob.glob(os.path.join(ROOT, "experiments/*/results/*.md"))):
        found += results_header_problems(path)
    print("\n".join(found) or "OK: no problems")
    raise SystemExit(1 if found else 0)
