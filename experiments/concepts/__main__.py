"""`python -m experiments.concepts --config=... --workdir=... [--features=acts.npy]`.

See README.md beside this file. `--features` points at a `[samples, d_in]` float `.npy`
file (memory-mapped, rows = samples); without it the experiment runs on planted data.
`--features=PATH` is shorthand for `--config.features=PATH`, so the file is part of the
config recorded in the workdir (a rerun on another file there is refused; `--overwrite`).
"""

import sys

from absl import flags

from experiments import _cli
from experiments.concepts import train

_cli.define_flags("experiments/concepts/configs/default.py")
flags.DEFINE_string("features", None, "A [samples, d_in] .npy of activations (rows = samples).")

if __name__ == "__main__":
    sys.argv = train.features_as_config(sys.argv)
    _cli.run(
        lambda config, workdir: train.main(config, workdir, flags.FLAGS.features),
        may_change=train.MAY_CHANGE,
    )
