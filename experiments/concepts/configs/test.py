"""Tiny CPU config for `train_test.py`: two steps per SAE kind, small data, one ICA case."""

from experiments.concepts.configs import default


def get_config():
    c = default.get_config()
    c.eval_seeds = "0,1"
    c.data.num_train = 512
    c.data.num_eval = 256
    c.data.d_in = 16
    c.data.width = 32
    c.data.k = 2
    c.data.num_dependent = 2
    c.train.num_steps = 2
    c.train.batch_size = 64
    c.train.checkpoint_every = 2
    c.train.log_every = 1
    c.ica.num_sources = 3
    c.ica.num_samples = 600
    c.ica.num_gaussian = "0,2"
    c.eval.num_bootstrap = 50
    c.eval.plot = False
    return c
