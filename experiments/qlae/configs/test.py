"""Tiny CPU config for `train_test.py`: two steps, tiny nets, a small held-out set."""

from experiments.qlae.configs import default


def get_config():
    c = default.get_config()
    c.data.num_eval = 128
    c.data.num_eval_curve = 16
    c.model.channels = (4, 4, 8, 8)
    c.model.dense = (16,)
    c.train.num_steps = 2
    c.train.batch_size = 8
    c.train.checkpoint_every = 2
    c.train.log_every = 1
    c.train.eval_every = 1
    c.train.progress = False
    c.eval.plot = False
    return c
