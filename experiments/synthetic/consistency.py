"""Criterion consistency: is the truth the minimum of a latent criterion?

Evaluates any criterion (a callable `z -> {term: scalar}` with a `"total"` entry) on the true
latents of the synthetic task and on reference codes built from them:

* `truth`, and `warp_a`, `warp_b`: smooth monotone per-axis warps (the theory says these are
  as good as the truth: identifiability holds up to permutation and monotone warps);
* `rot5` ... `rot45`: the standardized truth rotated in the plane of the first two axes;
* `collapse0.5`, `collapse0.2`: every cell squashed toward its centre (factor 0.5, 0.2);
* `spike_ax<i>`: the most populated cell row of axis `i` squashed to 5% of its width (the
  "row squashed onto a line" that trained Cliff codes show);
* `equalize`: per-axis rank transform (uniform marginals; a monotone but kinked warp that
  erases the marginal cliffs);
* `trained:<method>`: held-out codes of trained runs (`codes.npz` written by `train.py`).

Every value is the mean over `num_batches` random batches of `batch_size` held-out samples
(the batch a training step sees). The *margin* of a criterion is
`min(total over non-truth codes) - max(total over truth and warps)`: positive means the truth
family scores strictly best. The *margin vs non-equivalent codes* leaves out the collapsed,
spiked and equalized codes (per-axis monotone maps of the truth: same cells) and compares
with the rotations and trained codes only. Prefix a criterion with `rank:` to evaluate it on
the batch's soft ranks (`qdjax.losses.soft_rank`), which no per-axis monotone map changes.

    python -m experiments.synthetic.consistency --settings=2d,3lat,6cell_deep --seeds=11,12 \
        --criteria=v1,gap,cond --workdirs='runs/protocol/2d/*/seed_11' \
        --out=experiments/synthetic/results/consistency.json
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from qdjax import losses
from qdjax.losses import _cliff_variants

Criterion = Callable[[jax.Array], Mapping[str, jax.Array]]

TRUTH_FAMILY = ("truth", "warp_a", "warp_b")
# Per-axis monotone maps of the truth (same grid cells, so identified in seed 000's sense):
# left out of the "margin vs non-equivalent codes", which compares with rotations and
# trained codes only.
EQUIVALENT = ("collapse", "spike", "equalize")


def _pairwise_mean(pairwise) -> Criterion:
    def criterion(z):
        m = pairwise(z)
        d = m.shape[0]
        return {"total": jnp.sum(m) / (d * (d - 1))}

    return criterion


def _axis_alignment(sigma: float, weighted: bool) -> Criterion:
    """Seed 000's criterion; `weighted`: `alpha` from the batch's observations `x` (the
    method's weights), else uniform (every sample counts, cell interiors included)."""

    def crit(z, x=None):
        alpha = losses.observation_weights(x, sigma=sigma) if weighted else None
        return {"total": jnp.sum(losses.axis_alignment_loss(z, alpha, sigma=sigma))}

    crit.needs_observations = weighted
    return crit


def criterion(name: str) -> Criterion:
    """A named criterion: a Cliff variant (`qdjax.losses.CLIFF_VARIANTS`), `ioss`, `hfs`, or
    `axis_alignment[@<sigma>]` (seed 000, `alpha` from the observations, default σ 0.1) or
    `axis_alignment_uniform[@<sigma>]` (uniform `alpha`). A prefix `rank:` or `rank<h>:`
    (e.g. `rank:v1`, `rank0.02:cond`) evaluates it on the batch's soft ranks
    (`qdjax.losses.soft_rank`, bandwidth `h`, default 0.05): blind to monotone warps."""
    head, sep, rest = name.partition(":")
    if sep:
        if not head.startswith("rank"):
            raise ValueError(f"unknown criterion prefix {head!r} in {name!r}; use rank[<h>]:")
        try:
            h = float(head[4:]) if head[4:] else 0.05
        except ValueError:
            raise ValueError(
                f"bad rank bandwidth in {name!r}; use rank:<criterion> or rank0.02:<criterion>"
            ) from None
        inner = criterion(rest)
        if getattr(inner, "needs_observations", False):

            def ranked(z, x):
                return inner(losses.soft_rank(z, bandwidth=h), x)

            ranked.needs_observations = True
            return ranked
        return lambda z: inner(losses.soft_rank(z, bandwidth=h))
    if name.startswith("axis_alignment"):
        base, _, sigma = name.partition("@")
        if base not in ("axis_alignment", "axis_alignment_uniform"):
            raise ValueError(f"unknown criterion {name!r}; use axis_alignment[_uniform][@sigma]")
        return _axis_alignment(float(sigma) if sigma else 0.1, base == "axis_alignment")
    if name == "ioss":
        return _pairwise_mean(losses.ioss_pairwise)
    if name == "hfs":
        return _pairwise_mean(losses.hfs_pairwise)
    fn = _cliff_variants.cliff_variant(name)
    return lambda z: fn(z)._asdict()


def _standardize(z: np.ndarray) -> np.ndarray:
    return (z - z.mean(0)) / np.maximum(z.std(0), 1e-12)


def reference_codes(
    s: np.ndarray, cells: np.ndarray, edges, *, seed: int = 0
) -> dict[str, np.ndarray]:
    """Truth, warps, rotations, collapsed and spiked versions of the true latents `s: [n, d]`.

    Args:
      s: true latents `[n, d]`.
      cells: their grid cells `[n, d]` (int).
      edges: per axis the cell edges (`SyntheticDataset.density.edges`).
      seed: seed of the random warps.

    Returns:
      An ordered dict name -> codes `[n, d]` (float64).
    """
    s = np.asarray(s, np.float64)
    n, d = s.shape
    rng = np.random.default_rng(seed)
    ss = _standardize(s)
    out = {"truth": s}
    for name in ("warp_a", "warp_b"):
        z = np.empty_like(s)
        for i in range(d):  # z = a t + (1 - a) tanh(b (t - c)) / b: smooth, slope in [a, 1]
            a, b, c = rng.uniform(0.3, 0.7), rng.uniform(0.7, 1.5), rng.uniform(-0.7, 0.7)
            z[:, i] = a * ss[:, i] + (1 - a) * np.tanh(b * (ss[:, i] - c)) / b
        out[name] = z
    if d >= 2:
        for deg in (5, 15, 30, 45):
            th = np.deg2rad(deg)
            rot = np.eye(d)
            rot[:2, :2] = [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]
            out[f"rot{deg}"] = ss @ rot.T
    for lam in (0.5, 0.2):
        z = s.copy()
        for i, e in enumerate(edges):
            centre = 0.5 * (e[cells[:, i]] + e[cells[:, i] + 1])
            z[:, i] = centre + lam * (s[:, i] - centre)
        out[f"collapse{lam}"] = z
    for i, e in enumerate(edges):
        k = np.bincount(cells[:, i]).argmax()
        rows = cells[:, i] == k
        centre = 0.5 * (e[k] + e[k + 1])
        z = s.copy()
        z[rows, i] = centre + 0.05 * (s[rows, i] - centre)
        out[f"spike_ax{i}"] = z
    ranks = np.argsort(np.argsort(s, axis=0), axis=0) / (n - 1.0)
    out["equalize"] = ranks
    return out


def evaluate_criterion(
    fn: Criterion,
    codes: Mapping[str, np.ndarray],
    *,
    batch_size: int = 512,
    num_batches: int = 8,
    seed: int = 0,
    x: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Mean of every term of `fn` over the same random batches of each code.

    A criterion with `needs_observations` also gets the batch's observations `x` (rows of
    `x` aligned with the codes' rows)."""
    n = min(len(z) for z in codes.values())
    needs_x = getattr(fn, "needs_observations", False)
    if needs_x and x is None:
        raise ValueError("this criterion needs the observations x of the coded samples")
    if batch_size > n:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} samples available")
    rng = np.random.default_rng(seed)
    batches = [rng.choice(n, batch_size, replace=False) for _ in range(num_batches)]
    jitted = jax.jit(fn)
    out = {}
    for name, z in codes.items():
        vals = [
            jitted(
                jnp.asarray(z[b], jnp.float32),
                *((jnp.asarray(x[b], jnp.float32),) if needs_x else ()),
            )
            for b in batches
        ]
        out[name] = {k: float(np.mean([float(v[k]) for v in vals])) for k in vals[0]}
    return out


def margin(
    table: Mapping[str, Mapping[str, float]], term: str = "total", exclude: tuple[str, ...] = ()
) -> float:
    """`min(non-truth) - max(truth family)` of `term`; > 0 means the truth family is best.

    Codes whose name starts with an entry of `exclude` are left out of the minimum.
    """
    truth = [v[term] for k, v in table.items() if k in TRUTH_FAMILY]
    other = [
        v[term]
        for k, v in table.items()
        if k not in TRUTH_FAMILY and not any(k.startswith(e) for e in exclude)
    ]
    return float(min(other) - max(truth))


def load_trained_codes(patterns: list[str], n: int) -> dict[str, np.ndarray]:
    """`trained:<method>` -> codes from `codes.npz` in every workdir matching `patterns`."""
    out = {}
    for pattern in patterns:
        for wd in sorted(glob.glob(pattern)):
            path = os.path.join(wd, "codes.npz")
            res = os.path.join(wd, "results.json")
            if not (os.path.exists(path) and os.path.exists(res)):
                continue
            with open(res) as f:
                method = json.load(f)["method"]
            z = np.load(path)["z"].astype(np.float64)
            parent = os.path.basename(os.path.dirname(os.path.normpath(wd)))
            # tuning workdirs (<method>/w<weight>/seed_<s>) keep every weight apart
            tag = (
                f"@{parent}" if parent[:1] == "w" and parent[1:].replace(".", "").isdigit() else ""
            )
            if len(z) == n:
                out[f"trained:{method}{tag}"] = z
    return out


def format_table(tables: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Markdown: one row per code, one column per criterion (total), plus a margin row."""
    crits = list(tables)
    names = list(next(iter(tables.values())))
    lines = ["| code | " + " | ".join(crits) + " |", "|---" * (len(crits) + 1) + "|"]
    for name in names:
        cells = []
        for c in crits:
            v = tables[c].get(name, {}).get("total", float("nan"))
            cells.append(f"{v:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        "| **margin** | " + " | ".join(f"**{margin(tables[c]):+.3f}**" for c in crits) + " |"
    )
    lines.append(
        "| margin w/o spikes | "
        + " | ".join(f"{margin(tables[c], exclude=('spike',)):+.3f}" for c in crits)
        + " |"
    )
    lines.append(
        "| margin vs non-equivalent codes | "
        + " | ".join(f"{margin(tables[c], exclude=EQUIVALENT):+.3f}" for c in crits)
        + " |"
    )
    lines.append(
        "| lowest non-truth code | "
        + " | ".join(
            min(
                (k for k in tables[c] if k not in TRUTH_FAMILY), key=lambda k: tables[c][k]["total"]
            )
            for c in crits
        )
        + " |"
    )
    return "\n".join(lines)


def summary_table(results: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]]) -> str:
    """Markdown: per criterion, over every (setting, seed), how often each margin is > 0."""
    crits = list(next(iter(results.values())))
    lines = [
        "| criterion | margin > 0 | margin vs non-equivalent codes > 0 | its mean | its min |",
        "|---|---|---|---|---|",
    ]
    for c in crits:
        full = [margin(v[c]) for v in results.values()]
        neq = [margin(v[c], exclude=EQUIVALENT) for v in results.values()]
        lines.append(
            f"| {c} | {sum(m > 0 for m in full)}/{len(full)} | {sum(m > 0 for m in neq)}/{len(neq)}"
            f" | {np.mean(neq):+.3f} | {min(neq):+.3f} |"
        )
    return "\n".join(lines)


def format_terms(table: Mapping[str, Mapping[str, float]], name: str) -> str:
    """Markdown: one row per code, one column per term of one criterion."""
    terms = list(next(iter(table.values())))
    lines = [f"| {name}: code | " + " | ".join(terms) + " |", "|---" * (len(terms) + 1) + "|"]
    for code, vals in table.items():
        lines.append(f"| {code} | " + " | ".join(f"{vals[t]:.3f}" for t in terms) + " |")
    return "\n".join(lines)


def run(settings, seeds, criteria, workdirs, batch_size, num_batches) -> dict:
    """All (setting, seed, criterion) tables; trained codes from `workdirs` (`{setting}`,
    `{seed}` substituted)."""
    from experiments.synthetic import protocol, train

    results = {}
    for setting in settings:
        for seed in seeds:
            cfg = protocol.setting_config(setting, "ae", seed)
            ds = train.make_dataset(cfg)
            n_train = cfg.data.num_train
            s, cells = ds.z[n_train:], ds.cells[n_train:]
            codes = reference_codes(s, cells, ds.density.edges, seed=seed)
            pats = [w.format(setting=setting, seed=seed) for w in workdirs]
            codes.update(load_trained_codes(pats, len(s)))
            key = f"{setting}/seed_{seed}"
            results[key] = {}
            for c in criteria:
                results[key][c] = evaluate_criterion(
                    criterion(c),
                    codes,
                    batch_size=batch_size,
                    num_batches=num_batches,
                    seed=seed,
                    x=ds.x[n_train:],
                )
                print(f"{key} {c}: margin {margin(results[key][c]):+.3f}", file=sys.stderr)
    return results


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", default="2d")
    p.add_argument("--seeds", default="11")
    p.add_argument("--criteria", default="v1")
    p.add_argument("--workdirs", action="append", default=[])
    p.add_argument("--batch_size", type=int, default=512)
    p.add_argument("--num_batches", type=int, default=8)
    p.add_argument("--out", default=None)
    p.add_argument("--terms", action="store_true", help="also print every term per criterion")
    a = p.parse_args(argv)
    try:
        settings = a.settings.split(",")
        seeds = [int(x) for x in a.seeds.split(",")]
        results = run(
            settings, seeds, a.criteria.split(","), a.workdirs, a.batch_size, a.num_batches
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    parts = [summary_table(results)]
    for k, v in results.items():
        parts.append(f"#### {k}\n\n{format_table(v)}")
        if a.terms:
            parts += [format_terms(v[c], c) for c in v if len(next(iter(v[c].values()))) > 1]
    text = "\n\n".join(parts)
    print(text)
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        cmd = "python -m experiments.synthetic.consistency " + " ".join(
            sys.argv[1:] if argv is None else argv
        )
        with open(a.out, "w") as f:
            json.dump({"command": cmd, "results": results}, f, indent=1)
        from experiments import _cli

        head = _cli.provenance("experiments.synthetic.consistency")
        with open(os.path.splitext(a.out)[0] + ".md", "w") as f:
            f.write(f"<!-- produced by: {cmd} -->\n<!-- {head} -->\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
