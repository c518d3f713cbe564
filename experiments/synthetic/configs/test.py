"""Tiny CPU config for `train_test.py`: a few steps on a small dataset."""

from experiments.synthetic.configs import default


def get_config():
    c = default.get_config()
    c.data.num_train = 512
    c.data.num_eval = 256
    c.model.hidden = (32,)
    c.train.num_steps = 4
    c.train.batch_size = 64
    # Regularizers on from the first step: a 4-step run cannot outlast Cliff's 1000-step warm-up
    # (qdjax.methods.check_run_length refuses it); ignored, with a warning, by other methods.
    c.loss.warmup_steps = 0
    c.loss.ramp_steps = 0
    c.train.checkpoint_every = 2
    c.train.log_every = 1
    c.train.progress = False
    c.eval.plot = False
    return c
