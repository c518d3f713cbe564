"""Support-overlap sweep of seed 004 (mechanistic independence), CPU-sized default.

For each overlap ratio x K x seed x method: sample an invertible-MLP group generator
(qdjax.data.make_mechanistic), train an MLP autoencoder whose latents are split into K
contiguous blocks of `data.group_dim`, with reconstruction only (`ae`), + λ·C_comp
(`ccomp`), or + λ·block-sparsity ratio (`ratio`), and score slot identifiability and
the Jacobian-support checks. `flags/full.flags` is the full-length version.
"""

import ml_collections

METHODS = ("ae", "ccomp", "ratio")


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.sweep = ml_collections.ConfigDict()
    c.sweep.overlaps = (0.0, 0.05, 0.2, 0.5)
    c.sweep.num_groups = (2, 3)
    c.sweep.methods = METHODS
    # Evaluation seeds (reported). Tuning used separate seeds (`flags/tune.flags`: 100, 101).
    c.sweep.seeds = (0, 1, 2)

    c.data = ml_collections.ConfigDict()
    c.data.group_dim = 2
    c.data.obs_dim = 40
    c.data.num_layers = 2
    c.data.combine = "tanh"  # shared outputs: tanh of the summed group contributions
    c.data.latents = "normal"  # "normal" | "wishart"
    c.data.num_train = 4096
    c.data.num_eval = 1000

    c.model = ml_collections.ConfigDict()
    c.model.hidden = (64, 64)

    c.loss = ml_collections.ConfigDict()
    # λ of C_comp (method ccomp): 1.0 chosen over {0.01, 1.0} on tuning seeds 100, 101 (K=2,
    # overlap 0 and 20 %, 1000 steps; slot R² 0.47-0.69 at 0.01 vs 0.73-0.995 at 1.0).
    c.loss.ccomp_weight = 1.0
    # λ of the block-sparsity ratio (method ratio): 10 chosen over {0.1, 10} on the same tuning
    # runs (slot R² 0.46-0.60 at 0.1 vs 0.49-0.99 at 10).
    c.loss.ratio_weight = 10.0

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 1000
    c.train.batch_size = 128
    c.train.learning_rate = 1e-3
    c.train.weight_decay = 1e-4
    c.train.checkpoint_every = 1000
    c.train.keep_checkpoints = 1
    c.train.log_every = 100
    c.train.eval_every = 0
    c.train.progress = False

    c.eval = ml_collections.ConfigDict()
    c.eval.check_points = 24  # latent points for the Jacobian checks
    c.eval.type_h_points = 4  # true generator (tanh on shared outputs)
    # The AE decoder is a LeakyReLU MLP: piecewise linear, so its second derivatives vanish
    # and H2 cannot tell (verified: "cannot tell" on every point); 0 skips the check.
    c.eval.decoder_type_h_points = 0
    c.eval.num_rotations = 8
    c.eval.tol = 1e-2
    c.eval.krr_alpha = 1e-2  # kernel ridge (RBF, gamma = 1 / (2 * group_dim)) for slot R²
    c.eval.plot = True
    return c
