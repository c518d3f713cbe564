"""`python -m experiments.qlae --config=... --workdir=...` (see README.md beside this file)."""

from experiments import _cli
from experiments.qlae import train

_cli.define_flags("experiments/qlae/configs/default.py")

if __name__ == "__main__":
    _cli.run(train.train_and_evaluate)
