"""`python -m experiments.synthetic --config=... --workdir=...` (see README.md beside this file)."""

from experiments import _cli
from experiments.synthetic import train

_cli.define_flags("experiments/synthetic/configs/default.py")

if __name__ == "__main__":
    _cli.run(train.train_and_evaluate)
