"""Paired MCC differences between methods of two protocol reports (`protocol.json` files).

For runs made in separate workdirs with the same settings, seeds and run length (e.g. a new
method evaluated after the baselines' table was published), this pairs method `a` of file A
with method `b` of file B on the evaluation seeds both have, per setting, with the protocol's
95% percentile bootstrap interval:

    python -m experiments.synthetic.paired_files --a=runs/protocol_gf1500/protocol.json \\
        --b=experiments/synthetic/results/protocol_v3.json \\
        --pairs=grid_flow:ioss,grid_flow:hfs,grid_flow:ae

`--settings=2d_smooth:2d` pairs a setting of A with another of B (the same seeds of two data
settings, e.g. one generator change); by default each setting is paired with itself.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from absl import app, flags

from experiments.synthetic import protocol

_A, _B, _PAIRS, _SETTINGS, _NUM_BOOTSTRAP, _OUT = None, None, None, None, None, None


def _define_flags() -> None:
    """Defines this script's flags (only when run as a program, so importing it is free)."""
    global _A, _B, _PAIRS, _SETTINGS, _NUM_BOOTSTRAP, _OUT
    _A = flags.DEFINE_string("a", "", "protocol.json with the methods on the left of each pair.")
    _B = flags.DEFINE_string("b", "", "protocol.json with the methods on the right of each pair.")
    _PAIRS = flags.DEFINE_string("pairs", "", "'a:b,...' method pairs (a from --a, b from --b).")
    _SETTINGS = flags.DEFINE_string(
        "settings", "", "'sa:sb,...' setting of A paired with setting of B (default: same names)."
    )
    _NUM_BOOTSTRAP = flags.DEFINE_integer("num_bootstrap", 2000, "Bootstrap resamples.")
    _OUT = flags.DEFINE_string("out", "", "Markdown file to write (with the provenance line).")


def paired_table(
    a: dict,
    b: dict,
    pairs: list[tuple[str, str]],
    num_bootstrap: int,
    settings: list[tuple[str, str]] | None = None,
) -> str:
    """Markdown rows `setting | a - b | mean [95% CI] | seeds a > b | n` (MCC Pearson points).

    `settings`: (setting of A, setting of B) pairs; None pairs every setting of A with the
    same-named one of B. Raises ValueError when no (setting, method) pair has two common seeds.
    """
    lines = ["| setting | a - b | mean [95% CI] | seeds a > b |", "|---|---|---|---|"]
    if settings is None:
        settings = [(name, name) for name in a["settings"]]
    for name_a, name_b in settings:
        sa, sb = a["settings"].get(name_a), b["settings"].get(name_b)
        if sa is None or sb is None:
            continue
        setting = name_a if name_a == name_b else f"{name_a} vs {name_b}"
        for ma, mb in pairs:
            if ma not in sa["methods"] or mb not in sb["methods"]:
                continue
            va = dict(zip(sa["seeds"], sa["methods"][ma]["mcc_pearson"]))
            vb = dict(zip(sb["seeds"], sb["methods"][mb]["mcc_pearson"]))
            seeds = [s for s in sa["seeds"] if s in vb and va[s] is not None and vb[s] is not None]
            seeds = [s for s in seeds if np.isfinite(va[s]) and np.isfinite(vb[s])]
            if len(seeds) < 2:
                continue
            diff = 100 * (np.array([va[s] for s in seeds]) - np.array([vb[s] for s in seeds]))
            lines.append(
                f"| {setting} | {ma} - {mb} | {protocol.paired_cells(diff, num_bootstrap)} |"
            )
    if len(lines) == 2:
        raise ValueError(
            f"no pair has two common finished seeds: settings {settings} (A has "
            f"{sorted(a['settings'])}, B has {sorted(b['settings'])}; pair others with "
            f"--settings=sa:sb), methods {pairs}"
        )
    return "\n".join(lines)


def main(argv) -> int:
    del argv
    from experiments import _cli

    _cli.check_out_path(_OUT.value)
    if not (_A.value and _B.value and _PAIRS.value):
        print("--a, --b and --pairs are required", file=sys.stderr)
        return 2
    try:
        pairs = protocol.parse_pairs(_PAIRS.value, "--pairs")
        settings = protocol.parse_pairs(_SETTINGS.value, "--settings") if _SETTINGS.value else None
        with open(_A.value) as f:
            a = json.load(f)
        with open(_B.value) as f:
            b = json.load(f)
        text = paired_table(a, b, pairs, _NUM_BOOTSTRAP.value, settings)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(_cli.write_report(_OUT.value, "experiments.synthetic.paired_files", text))
    return 0


if __name__ == "__main__":
    _define_flags()
    app.run(lambda argv: sys.exit(main(argv)))
