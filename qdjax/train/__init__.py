"""Training engine: objectives, optimizers, the jitted data-parallel step, the loop."""

from qdjax.train.checkpoint import Checkpointer, CheckpointMismatchError, SkippedCheckpoint
from qdjax.train.discriminator import (
    discriminator_params,
    make_discriminator_optimizers,
    make_discriminator_train_step,
    model_params,
    permute_latents,
)
from qdjax.train.gan import (
    critic_params,
    generator_params,
    info_loss,
    make_gan_optimizers,
    make_gan_train_step,
)
from qdjax.train.loop import (
    LossDivergenceWarning,
    NonFiniteLossError,
    TrainingInterrupted,
    TrainResult,
    train,
)
from qdjax.train.objectives import (
    Term,
    default_forward,
    kl_term,
    latent_term,
    make_objective,
    quantization_terms,
    reconstruction_term,
)
from qdjax.train.optim import make_optimizer, param_labels
from qdjax.train.step import make_data_mesh, make_train_step, put_batch
from qdjax.train.workdir import WorkdirInUseError, WorkdirLock
from qdjax.train.writers import MetricWriter, read_metrics, write_results

__all__ = [
    "discriminator_params",
    "make_discriminator_optimizers",
    "make_discriminator_train_step",
    "model_params",
    "permute_latents",
    "critic_params",
    "generator_params",
    "info_loss",
    "make_gan_optimizers",
    "make_gan_train_step",
    "quantization_terms",
    "CheckpointMismatchError",
    "Checkpointer",
    "LossDivergenceWarning",
    "SkippedCheckpoint",
    "TrainingInterrupted",
    "WorkdirInUseError",
    "WorkdirLock",
    "MetricWriter",
    "NonFiniteLossError",
    "Term",
    "TrainResult",
    "default_forward",
    "kl_term",
    "latent_term",
    "make_data_mesh",
    "make_objective",
    "make_optimizer",
    "make_train_step",
    "param_labels",
    "put_batch",
    "read_metrics",
    "reconstruction_term",
    "train",
    "write_results",
]
