"""The scaled CPU comparison on the procedural stand-in (see experiments/shapes3d/README.md).

A small dlib-style net (channels 16-16-32-32, dense 128), batch 32, 150 steps (Cliff/HFS:
AE warm-up 50, ramp 25), 500 held-out images, no plots: about 5 minutes per run on a shared,
heavily loaded 2-core CPU (most of it compilation), three orders of magnitude short of the
papers' 2e5 steps. A smoke comparison, not a reproduction.
"""

from experiments.images.configs import default


def get_config(dataset: str | None = None):
    c = default.get_config(dataset)
    c.data.num_eval = 500
    c.model.architecture = "dlib"
    c.model.channels = (16, 16, 32, 32)
    c.model.dense = (128,)
    c.train.num_steps = 150
    c.train.batch_size = 32
    c.train.checkpoint_every = 150
    c.train.eval_every = 150
    c.train.log_every = 25
    c.loss.warmup_steps = 50
    c.loss.ramp_steps = 25
    c.eval.dci_backend = "forest"
    c.eval.dci_train_size = 400
    c.eval.plot = False
    c.eval.metric_threads = 1  # a shared, loaded CPU: spinning metric threads cost ~20x
    return c
