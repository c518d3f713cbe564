"""Tiny CPU config for `train_test.py`: one overlap, K = 2, one seed, two steps."""

from experiments.mechanistic.configs import default


def get_config():
    c = default.get_config()
    c.sweep.overlaps = (0.0,)
    c.sweep.num_groups = (2,)
    c.sweep.seeds = (0,)
    c.data.obs_dim = 12
    c.data.num_train = 256
    c.data.num_eval = 200
    c.model.hidden = (16,)
    c.train.num_steps = 2
    c.train.batch_size = 32
    c.train.checkpoint_every = 2
    c.train.log_every = 1
    c.eval.check_points = 6
    c.eval.type_h_points = 2
    c.eval.decoder_type_h_points = 2
    c.eval.num_rotations = 2
    c.eval.plot = False
    return c
