"""The scaled CPU comparison on the procedural stand-in (see experiments/shapes3d/README.md).

A small dlib-style net (channels 16-16-32-32, dense 128), batch 32, 300 steps (Cliff/HFS:
AE warm-up 100, ramp 50), 1000 held-out images: about 2 minutes per run on a shared 2-core
CPU, three orders of magnitude short of the papers' 2e5 steps. A smoke comparison, not a
reproduction.
"""

from experiments.images.configs import default


def get_config(dataset: str | None = None):
    c = default.get_config(dataset)
    c.data.num_eval = 1000
    c.model.architecture = "dlib"
    c.model.channels = (16, 16, 32, 32)
    c.model.dense = (128,)
    c.train.num_steps = 300
    c.train.batch_size = 32
    c.train.checkpoint_every = 300
    c.train.eval_every = 150
    c.loss.warmup_steps = 100
    c.loss.ramp_steps = 50
    c.eval.dci_backend = "forest"
    c.eval.dci_train_size = 800
    return c
