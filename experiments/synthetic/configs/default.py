"""Synthetic grid-plus-diffeomorphism task (Cliff paper §5.1), CPU-sized default.

2-D latents on a 4x4 "Manhattan" grid, mixed by a random 3-layer invertible MLP.
`python -m experiments.synthetic --config=experiments/synthetic/configs/default.py
--workdir=runs/synthetic` trains in a few minutes on a laptop CPU.
"""

import ml_collections

# Per-method settings layered on the shared defaults by `get_config(method)`
# (`--config=experiments/synthetic/configs/default.py:cliff`).
METHOD_SETTINGS = {
    "ae": {},
    "betavae": {"loss.beta": 1.0},
    "hfs": {"loss.regularizer_weight": 1.0},
    "ioss": {"loss.regularizer_weight": 1.0},
    "cliff": {"loss.regularizer_weight": 1.0},
}


def get_config(method: str | None = None) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.method = method or "ae"  # one of experiments.synthetic.train.METHODS

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
    c.data.mixing = "mlp"  # "mlp" | "linear"
    c.data.mixing_layers = 3

    c.model = ml_collections.ConfigDict()
    c.model.num_latents = 2
    c.model.hidden = (256, 256)

    c.loss = ml_collections.ConfigDict()
    c.loss.likelihood = "gaussian"
    c.loss.reconstruction_weight = 1.0
    c.loss.beta = 1.0  # betavae KL weight
    c.loss.regularizer_weight = 1.0  # weight of the method's latent regularizer

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 3000
    c.train.batch_size = 256
    c.train.learning_rate = 1e-3
    c.train.weight_decay = 1e-4
    c.train.checkpoint_every = 1000
    c.train.keep_checkpoints = 3
    c.train.log_every = 100
    c.train.eval_every = 0
    c.train.progress = True

    c.eval = ml_collections.ConfigDict()
    c.eval.plot = True

    if c.method not in METHOD_SETTINGS:
        raise ValueError(f"unknown method {c.method!r}; use one of {sorted(METHOD_SETTINGS)}")
    for key, value in METHOD_SETTINGS[c.method].items():
        section, name = key.split(".")
        c[section][name] = value
    return c
