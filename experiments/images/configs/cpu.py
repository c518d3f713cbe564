"""The scaled CPU comparison on the procedural stand-in (see experiments/shapes3d/README.md).

A small dlib-style net (channels 16-16-32-32, dense 128), batch 32, 600 steps, 1000 held-out
images: minutes per run on a shared 2-core CPU, far from the papers' 2e5 steps.
"""

from experiments.images.configs import default


def get_config(dataset: str | None = None):
    c = default.get_config(dataset)
    c.data.num_eval = 1000
    c.model.architecture = "dlib"
    c.model.channels = (16, 16, 32, 32)
    c.model.dense = (128,)
    c.train.num_steps = 600
    c.train.batch_size = 32
    c.train.checkpoint_every = 300
    c.train.eval_every = 300
    c.loss.warmup_steps = 200
    c.loss.ramp_steps = 100
    c.eval.dci_backend = "forest"
    c.eval.dci_train_size = 800
    return c
