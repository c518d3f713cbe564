"""Any registry method on Balls images, CPU-sized default (QLAE).

Two large balls (radius 10.24 px) at i.i.d. uniform positions `(x1, y1, x2, y2)`: independent
factors, so modularity (InfoM, MIG) is not confounded by factor dependence, and big balls
give the reconstruction loss enough pixels to learn positions within a few hundred CPU steps.
A small disentanglement_lib-style conv net (channels 16-16-32-32, dense 128; 0.19 M parameters)
trains at 130-180 images/s on a shared 2-core CPU: 1200 steps of 32 take 5-7 min. Switch the
method with `--config.method=ae` (any of `qdjax.methods.names("balls")`);
`--config.model.architecture=qlae --config.model.channels=() --config.model.dense=()` is the
full QLAE reference net (accelerator-sized).
"""

import ml_collections

from experiments import _methods
from qdjax.data import _balls as balls

# Every method's recipe (loss weights, optimizer, batch size) comes from the registry,
# qdjax.methods. `--config.method` replaces the former `--config.model.kind`; its `vae` is now
# `betavae` (β 1 relative to the summed reconstruction on Balls, as the old `vae` ran).


def get_config(method: str | None = None) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.method = method or "qlae"  # a name in qdjax.methods.names("balls")

    c.data = ml_collections.ConfigDict()
    c.data.variant = "iid"  # one of qdjax.data._balls.VARIANTS
    c.data.radius = balls.LARGE_RADIUS  # pixels; 0.0 = the variant's default radius
    c.data.num_balls = 2
    c.data.cells_per_dim = 4  # "grid" variant only
    c.data.empty_fraction = 0.0  # "grid" variant only
    c.data.num_eval = 1000  # held-out examples for the final metrics
    c.data.num_eval_curve = 256  # held-out examples for the PSNR logged during training

    c.model = ml_collections.ConfigDict()
    c.model.num_latents = 0  # 0 = twice the number of factors (QLAE default)
    c.model.architecture = "dlib"  # "dlib" | "qlae" (as published, 7.65 M params) | "qlae_legacy"
    c.model.channels = (16, 16, 32, 32)  # () = the architecture's default widths
    c.model.dense = (128,)
    c.model.depth = 0  # 0 = the architecture's default

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 1200
    c.train.precision = "float32"  # "bf16": bfloat16 compute, float32 parameters and losses
    c.train.checkpoint_every = 600
    c.train.keep_checkpoints = 2
    c.train.log_every = 50
    c.train.eval_every = 200  # PSNR on num_eval_curve held-out images; 0 = only at the end
    c.train.progress = True

    # Recipe settings: empty here = the method's value in qdjax.methods (on Balls: batch 32,
    # pixel-mean Bernoulli reconstruction; QLAE: weight decay 0.1, clip 1, codebook terms 0.01);
    # set one to override it, e.g. --config.train.batch_size=64 or --config.loss.cliff_weight=0.01.
    _methods.add_recipe_fields(c, "balls")

    c.eval = ml_collections.ConfigDict()
    c.eval.factor_bins = 10  # InfoMEC needs discrete factors: equal-width bins of each factor
    c.eval.plot = True
    return c
