"""Tiny CPU config for `train_test.py`: two steps, a tiny dlib net, 16x16 stand-in images."""

from experiments.images.configs import default


def get_config(dataset: str | None = None):
    c = default.get_config(dataset)
    c.data.source = "procedural"
    c.data.num_eval = 128
    c.data.num_eval_curve = 16
    c.data.render_supersample = 1
    c.data.render_size = 16  # 16x16 stand-in images: cheap tables, tiny convs
    c.model.architecture = "dlib"
    c.model.channels = (4, 4, 8, 8)
    c.model.dense = (16,)
    c.train.num_steps = 2
    c.train.batch_size = 8
    c.train.checkpoint_every = 2
    c.train.log_every = 1
    c.train.eval_every = 1
    c.train.progress = False
    c.eval.dci_backend = "forest"
    c.eval.dci_train_size = 96
    c.eval.plot = False
    c.eval.metric_threads = 1  # a shared, loaded CPU: spinning metric threads cost ~20x
    return c
