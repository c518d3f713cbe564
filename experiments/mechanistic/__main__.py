"""`python -m experiments.mechanistic --config=... --workdir=...` (see README.md here)."""

from experiments import _cli
from experiments.mechanistic import train

_cli.define_flags("experiments/mechanistic/configs/default.py")

if __name__ == "__main__":
    _cli.run(train.train_and_evaluate)
