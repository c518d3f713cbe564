"""Pure loss kernels: arrays in, arrays out (no flax, no configs)."""

from qdjax.losses._axis_alignment import (
    axis_alignment_loss,
    kde_score,
    observation_weights,
)
from qdjax.losses._bioae import activity_penalty, nonnegativity_penalty
from qdjax.losses._cliff import (
    Cliffs,
    CliffTerms,
    CliffWeights,
    KDEMarginals,
    cliff_bivariate,
    cliff_loss,
    cliff_uniform_kl,
    cliff_univariate,
    find_cliffs,
    kde_marginals,
    silverman_bandwidth,
)
from qdjax.losses._cliff_variants import CLIFF_VARIANTS, cliff_loss_variant, cliff_variant
from qdjax.losses._compositional import (
    block_norms,
    block_sparsity_ratio,
    compositional_contrast,
    decoder_compositional_contrast,
    group_matrix,
)
from qdjax.losses._copula import soft_rank
from qdjax.losses._factorqvae import (
    density_ratio_tc,
    discriminator_loss,
    gumbel_softmax,
    gumbel_temperature,
    scalar_codebook_distances,
    uniform_kl,
)
from qdjax.losses._grid_density import grid_edges, grid_log_prob, log_soft_indicator
from qdjax.losses._quantize import commitment_loss, quantization_loss
from qdjax.losses._reconstruction import bernoulli_nll, squared_error
from qdjax.losses._sae import (
    auxk_loss,
    batch_topk_activation,
    fraction_variance_unexplained,
    heaviside_step,
    jumprelu,
    l0_sparsity,
    l1_sparsity,
    sae_reconstruction_error,
    soft_threshold,
    topk_activation,
)
from qdjax.losses._support import hfs_pairwise, ioss_pairwise
from qdjax.losses._tc import total_correlation
from qdjax.losses._tripod import (
    HessianPenalty,
    kernel_multiinformation,
    normalized_hessian_penalty,
    silverman_factor,
)
from qdjax.losses._vae import gaussian_kl, gaussian_sample
from qdjax.losses._wgan import (
    gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)

__all__ = [
    "grid_edges",
    "grid_log_prob",
    "log_soft_indicator",
    "density_ratio_tc",
    "discriminator_loss",
    "gumbel_softmax",
    "gumbel_temperature",
    "scalar_codebook_distances",
    "uniform_kl",
    "HessianPenalty",
    "activity_penalty",
    "kernel_multiinformation",
    "nonnegativity_penalty",
    "normalized_hessian_penalty",
    "silverman_factor",
    "block_norms",
    "block_sparsity_ratio",
    "compositional_contrast",
    "decoder_compositional_contrast",
    "group_matrix",
    "auxk_loss",
    "batch_topk_activation",
    "fraction_variance_unexplained",
    "heaviside_step",
    "jumprelu",
    "l0_sparsity",
    "l1_sparsity",
    "sae_reconstruction_error",
    "soft_rank",
    "soft_threshold",
    "topk_activation",
    "commitment_loss",
    "gradient_penalty",
    "quantization_loss",
    "total_correlation",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
    "CliffTerms",
    "CliffWeights",
    "Cliffs",
    "KDEMarginals",
    "bernoulli_nll",
    "cliff_bivariate",
    "cliff_loss",
    "cliff_loss_variant",
    "cliff_variant",
    "CLIFF_VARIANTS",
    "cliff_uniform_kl",
    "cliff_univariate",
    "find_cliffs",
    "axis_alignment_loss",
    "kde_score",
    "observation_weights",
    "gaussian_kl",
    "gaussian_sample",
    "hfs_pairwise",
    "ioss_pairwise",
    "kde_marginals",
    "silverman_bandwidth",
    "squared_error",
]
