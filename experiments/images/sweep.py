"""Methods x seeds on one image benchmark, each run in its own workdir, in this process.

    python -m experiments.images.sweep --dataset=shapes3d --methods=ae,betavae,qlae,cliff \
        --seeds=0,1,2 --config=cpu --root=runs/shapes3d_cpu [--set=train.num_steps=300]

A cell whose `results.json` exists is skipped. `results.py --root=...` prints the tables.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from experiments import _cli
from experiments._cli import ConfigError
from experiments.images import train


def _parse(kind: type, value: str):
    """`value` as the config field's type `kind` (tuples: comma-separated ints)."""
    if kind is bool:
        if value.lower() not in ("true", "false", "1", "0"):
            raise ConfigError(f"--set value {value!r} must be true or false")
        return value.lower() in ("true", "1")
    if kind is tuple:
        return tuple(int(v) for v in value.split(",") if v)
    return kind(value)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="shapes3d")
    p.add_argument("--methods", default="ae,betavae,qlae,cliff")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--config", default="cpu", help="experiments/images/configs/<name>.py")
    p.add_argument("--root", required=True)
    p.add_argument("--set", action="append", default=[], help="dotted.key=value override")
    a = p.parse_args(argv)
    _cli.quiet_logging()
    try:
        cfg_mod = importlib.import_module(f"experiments.images.configs.{a.config}")
    except ModuleNotFoundError:
        print(f"error: --config={a.config}: no experiments/images/configs/{a.config}.py")
        return 2
    for seed in (int(s) for s in a.seeds.split(",")):  # seed-major: partial sweeps compare
        for method in a.methods.split(","):
            workdir = os.path.join(a.root, method, f"seed_{seed}")
            if os.path.exists(os.path.join(workdir, "results.json")):
                continue
            c = cfg_mod.get_config(a.dataset)
            c.method, c.seed = method, seed
            c.train.progress = False
            try:
                for item in a.set:
                    key, _, value = item.partition("=")
                    section, _, name = key.rpartition(".")
                    node = c[section] if section else c
                    if name not in node:
                        raise ConfigError(f"--set {key}: no such config key")
                    kind = node.get_ref(name).get_type()  # placeholders (recipe keys) too
                    try:
                        node[name] = _parse(kind, value)
                    except ValueError:
                        raise ConfigError(f"--set {item}: {value!r} is not a {kind.__name__}")
                # the session records the config (config.json, and "config" in results.json)
                with _cli.workdir_session(c, workdir):
                    train.train_and_evaluate(c, workdir)
            except ConfigError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
