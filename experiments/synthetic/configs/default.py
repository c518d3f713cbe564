"""Synthetic grid-plus-diffeomorphism task (Cliff paper §5.1), CPU-sized default.

2-D latents on a 4x4 "Manhattan" grid, mixed by a random 3-layer invertible MLP.
`python -m experiments.synthetic --config=experiments/synthetic/configs/default.py
--workdir=runs/synthetic` trains in a few minutes on a laptop CPU.
"""

import ml_collections

from experiments import _methods

# Every method's recipe (model, loss weights, schedule, optimizer, batch size) comes from the
# registry, qdjax.methods (the tuned synthetic values are there, with their provenance):
# `--config.method=cliff` brings Cliff's recipe; `default.py:cliff` does the same.


def get_config(method: str | None = None) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.method = method or "ae"  # a name in qdjax.methods.names("synthetic")

    c.data = ml_collections.ConfigDict()
    c.data.num_train = 20_000
    c.data.num_eval = 5_000
    c.data.num_latents = 2
    c.data.obs_dim = 2  # D >= num_latents
    c.data.cells_per_dim = 4
    c.data.width_low = 0.3
    c.data.width_high = 2.5
    c.data.logit_scale = 1.0
    c.data.empty_fraction = 0.0
    c.data.smoothing = 0.0
    c.data.mixing = "mlp"  # "mlp" (LeakyReLU) | "smooth_mlp" (a diffeomorphism) | "linear"
    c.data.mixing_layers = 3

    c.model = ml_collections.ConfigDict()
    c.model.num_latents = 2
    c.model.hidden = (256, 256)

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 3000
    c.train.checkpoint_every = 1000
    c.train.keep_checkpoints = 3
    c.train.log_every = 100
    c.train.eval_every = 0
    c.train.progress = True
    # > 1: train this many restarts (model seed + r * 1000; grid_flow: its own start rotation
    # each) and keep one, chosen without labels by `train.restart_selection`: "objective" (the
    # lowest training objective on the training set) or "agreement" (the medoid of the
    # restarts' codes of the training inputs: the one whose code agrees most, by Spearman MCC,
    # with the others', `qdjax.identifiability.code_agreement`)
    c.train.restarts = 1
    c.train.restart_selection = "objective"

    # Recipe settings: empty here = the method's value in qdjax.methods; set one to override it,
    # e.g. --config.loss.regularizer_weight=0.3 (loss.*: term weights, warm-up, Cliff's knobs;
    # train.batch_size / learning_rate / weight_decay / clip_value; model.num_values).
    _methods.add_recipe_fields(c, "synthetic")

    c.eval = ml_collections.ConfigDict()
    c.eval.plot = True

    return c
