"""`python -m experiments.dsprites --flagfile=experiments/dsprites/flags/<method>.flags`.

One shared implementation: experiments/images/train.py (see README.md beside this file).
"""

from experiments import _cli
from experiments.images import train

_cli.define_flags("experiments/dsprites/configs/default.py")

if __name__ == "__main__":
    _cli.run(train.train_and_evaluate)
