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
    # beta in {0.01, 0.1, 1} on seed 0 (2000 steps): MCC 0.842 / 0.828 / 0.638.
    "betavae": {"loss.beta": 0.01},
    # weight in {0.1, 1, 10} on seed 0 (2000 steps): MCC 0.678 / 0.573 / 0.504.
    "hfs": {"loss.regularizer_weight": 0.1},
    # weight in {0.1, 1, 10} on seed 0 (2000 steps): MCC 0.794 / 0.764 / 0.588.
    "ioss": {"loss.regularizer_weight": 0.1},
    # AE warm-up (1000 steps), then a linear ramp over 1000 steps to a small weight 0.1 at batch
    # 512. Chosen on seeds 0 and 1 (3000 steps) over weight {0.03, 0.1, 1, 10}, sub-term weights
    # (univariate 0 / 0.1, bivariate 10, uniform 10) and a fixed bandwidth 0.1 (NaN gradient);
    # see README.md. Weight >= 1 or a dominant term folds the latents (MCC 0.46-0.85).
    # The QLAE recipe (seed 002): AdamW weight decay 0.1 on weights, element-wise clipping at 1,
    # quantization and commitment weights 0.01, 10 values per latent; not tuned here.
    "qlae": {"train.weight_decay": 0.1, "train.clip_value": 1.0},
    "cliff": {
        "loss.regularizer_weight": 0.1,
        "loss.warmup_steps": 1000,
        "loss.ramp_steps": 1000,
        "train.batch_size": 512,
    },
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
    c.model.num_values = 10  # qlae: values per latent codebook

    c.loss = ml_collections.ConfigDict()
    c.loss.likelihood = "gaussian"
    c.loss.reconstruction_weight = 1.0
    c.loss.beta = 1.0  # betavae KL weight
    c.loss.quantization_weight = 0.01  # qlae: ||sg(z_c) - z_q||^2
    c.loss.commitment_weight = 0.01  # qlae: ||z_c - sg(z_q)||^2
    c.loss.regularizer_weight = 1.0  # weight of the method's latent regularizer
    # Regularizer schedule (cliff, hfs, ioss): weight 0 for `warmup_steps` (plain AE), then a
    # linear ramp to `regularizer_weight` over `ramp_steps` (0 = switch on at once).
    c.loss.warmup_steps = 0
    c.loss.ramp_steps = 0
    # Cliff only: weights of the three terms (qdjax.losses.CliffWeights) and the KDE bandwidth
    # in standardized units (0 = Silverman's rule, qdjax.losses.silverman_bandwidth).
    c.loss.cliff_univariate = 1.0
    c.loss.cliff_bivariate = 1.0
    c.loss.cliff_uniform = 1.0
    c.loss.cliff_bandwidth = 0.0

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 3000
    c.train.batch_size = 256
    c.train.learning_rate = 1e-3
    c.train.weight_decay = 1e-4
    c.train.clip_value = 0.0  # element-wise gradient clipping; 0 = none
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
