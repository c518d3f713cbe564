"""Sparse autoencoders (Flax NNX) with a linear decoder and five encoders.

One module, :class:`SparseAutoencoder`, ``kind`` in

- ``"relu"``: ``z = ReLU(W_encᵀ(x - b_dec) + b_enc)``, trained with an L1 penalty;
- ``"topk"``: the k largest pre-activations per example (Gao et al. 2024);
- ``"batchtopk"``: the ``k·batch`` largest over the batch while training; at inference a
  single threshold (EMA of the smallest kept activation) replaces the batch coupling
  (Bussmann et al. 2024);
- ``"jumprelu"``: ``z = pre · H(pre - θ)`` with learnable θ = exp(log_threshold) and the
  kernel pseudo-derivative (:func:`qdjax.losses.jumprelu`), trained with an L0 penalty
  (Rajamanoharan et al. 2024);
- ``"ista"``: an *inference* encoder — ``ista_steps`` unrolled (non-negative) ISTA
  iterations on ``min_z ½||x - b_dec - Dz||² + λ||z||₁`` started from the ReLU
  encoder's output, with step 1/L, L = ||D||₂² by power iteration. The seed paper's
  Sec. 6.3/D.2 point: a one-layer projection encoder is an amortised approximation of
  this MAP inference.

The dictionary is ``D = W_dec.T`` (``[d_in, width]``, columns are atoms). Decoder rows
are kept unit norm by :func:`unit_norm_decoder` (the gradient component parallel to
each atom is removed before the optimizer and the atom is renormalised after it; we do
*not* fold the norm into the penalty). ``b_dec`` is initialised at the data's geometric
median with :meth:`SparseAutoencoder.init_decoder_bias`. Dead latents (no activation in
the last ``dead_after`` training examples) are tracked in ``tokens_since_fired`` and
feed the AuxK reconstruction ``aux_x_hat`` (top ``k_aux`` dead pre-activations, decoder
without bias) that :func:`qdjax.losses.auxk_loss` scores against the detached residual.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from qdjax._src.typing import Array, ArrayLike
from qdjax.losses import _sae as kernels

KINDS = ("relu", "topk", "batchtopk", "jumprelu", "ista")


class SAEStat(nnx.Variable):
    """Non-trainable SAE statistics (dead-latent counters, BatchTopK threshold)."""


class SAEOutput(NamedTuple):
    """What :class:`SparseAutoencoder` returns.

    Attributes:
      x_hat: reconstruction ``[batch, d_in]``.
      z: codes ``[batch, width]``.
      pre: encoder pre-activations ``[batch, width]`` (before the sparsifying activation).
      aux_x_hat: AuxK reconstruction of the residual from dead latents ``[batch, d_in]``
        (zeros when no latent is dead).
      threshold: the JumpReLU thresholds ``[width]`` (ones for other kinds).
    """

    x_hat: Array
    z: Array
    pre: Array
    aux_x_hat: Array
    threshold: Array


class SparseAutoencoder(nnx.Module):
    """A sparse autoencoder ``x̂ = z W_dec + b_dec`` (see the module docstring).

    Args:
      d_in: feature dimension.
      width: number of latents (dictionary atoms).
      kind: one of ``"relu"``, ``"topk"``, ``"batchtopk"``, ``"jumprelu"``, ``"ista"``.
      k: active latents per example (topk, batchtopk); also the default ``k_aux`` scale.
      k_aux: latents used by AuxK (default ``min(2 k, width // 2)``, OpenAI uses d_in/2).
      dead_after: a latent unused for this many training examples counts as dead.
      jump_bandwidth: ε of the JumpReLU pseudo-derivative.
      init_threshold: initial JumpReLU threshold.
      ista_steps: unrolled ISTA iterations (kind ``"ista"``).
      ista_penalty: λ of the ISTA objective (use the L1 weight you train with).
      threshold_momentum: EMA momentum of the BatchTopK inference threshold.
      rngs: ``nnx.Rngs`` for the initial dictionary.
    """

    def __init__(
        self,
        d_in: int,
        width: int,
        *,
        kind: str = "topk",
        k: int = 32,
        k_aux: int | None = None,
        dead_after: int = 100_000,
        jump_bandwidth: float = 1e-3,
        init_threshold: float = 1e-3,
        ista_steps: int = 10,
        ista_penalty: float = 1e-2,
        threshold_momentum: float = 0.99,
        rngs: nnx.Rngs,
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
        if d_in < 1 or width < 2:
            raise ValueError(f"need d_in >= 1 and width >= 2; got d_in={d_in}, width={width}")
        if not 1 <= k < width:
            raise ValueError(f"k must satisfy 1 <= k < width ({width}); got k={k}")
        k_aux = min(2 * k, width // 2) if k_aux is None else k_aux
        if not 1 <= k_aux < width:
            raise ValueError(f"k_aux must satisfy 1 <= k_aux < width ({width}); got {k_aux}")
        if jump_bandwidth <= 0 or init_threshold <= 0:
            raise ValueError("jump_bandwidth and init_threshold must be > 0")
        if ista_steps < 1 or ista_penalty < 0:
            raise ValueError(f"need ista_steps >= 1 and ista_penalty >= 0; got {ista_steps}")
        self.d_in, self.width, self.kind, self.k, self.k_aux = d_in, width, kind, k, k_aux
        self.dead_after = int(dead_after)
        self.jump_bandwidth, self.ista_steps = float(jump_bandwidth), int(ista_steps)
        self.ista_penalty, self.threshold_momentum = float(ista_penalty), threshold_momentum
        w = _unit_rows(rngs.params(), width, d_in)
        self.W_dec = nnx.Param(w)
        self.W_enc = nnx.Param(w.T)  # tied initialisation (Gao et al. 2024)
        self.b_enc = nnx.Param(jnp.zeros((width,), jnp.float32))
        self.b_dec = nnx.Param(jnp.zeros((d_in,), jnp.float32))
        if kind == "jumprelu":
            self.log_threshold = nnx.Param(jnp.full((width,), jnp.log(init_threshold)))
        self.tokens_since_fired = SAEStat(jnp.zeros((width,), jnp.float32))
        self.inference_threshold = SAEStat(jnp.zeros((), jnp.float32))

    # ------------------------------------------------------------------ pieces
    @property
    def dictionary(self) -> Array:
        """The atoms as columns, ``[d_in, width]``."""
        return self.W_dec[...].T

    def threshold(self) -> Array:
        if self.kind == "jumprelu":
            return jnp.exp(self.log_threshold[...])
        return jnp.ones((self.width,), jnp.float32)

    def pre_activation(self, x: Array) -> Array:
        return (x - self.b_dec[...][None, :]) @ self.W_enc[...] + self.b_enc[...][None, :]

    def decode(self, z: Array) -> Array:
        return z @ self.W_dec[...] + self.b_dec[...][None, :]

    def _ista(self, x: Array, z: Array) -> Array:
        w = self.W_dec[...]
        lip = _spectral_norm_sq(jax.lax.stop_gradient(w))
        eta = 1.0 / lip
        target = x - self.b_dec[...][None, :]

        def body(z, _):
            grad = (z @ w - target) @ w.T
            return kernels.soft_threshold(z - eta * grad, eta * self.ista_penalty), None

        z, _ = jax.lax.scan(body, z, None, length=self.ista_steps)
        return z

    def _codes(self, x: Array, pre: Array, *, training: bool) -> Array:
        if self.kind == "relu":
            return jax.nn.relu(pre)
        if self.kind == "topk":
            return kernels.topk_activation(pre, k=self.k)
        if self.kind == "batchtopk":
            if training:
                return kernels.batch_topk_activation(pre, k=self.k)
            thr = self.inference_threshold[...]
            return jnp.where(pre > thr, jax.nn.relu(pre), 0.0)
        if self.kind == "jumprelu":
            return kernels.jumprelu(pre, self.threshold(), self.jump_bandwidth)
        return self._ista(x, jax.nn.relu(pre))

    def _check(self, x: ArrayLike) -> Array:
        x = jnp.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.d_in:
            raise ValueError(f"x must be [batch, {self.d_in}]; got shape {x.shape}")
        return x

    # ------------------------------------------------------------------ API
    def encode(self, x: ArrayLike) -> Array:
        """Deterministic codes ``[batch, width]`` (no statistics are updated)."""
        x = self._check(x)
        return self._codes(x, self.pre_activation(x), training=False)

    def __call__(self, x: ArrayLike, *, key: jax.Array | None = None) -> SAEOutput:
        """Training forward pass: codes, reconstruction, AuxK; updates dead-latent counters."""
        del key  # deterministic
        x = self._check(x)
        pre = self.pre_activation(x)
        z = self._codes(x, pre, training=True)
        x_hat = self.decode(z)
        fired = jnp.any(z > 0, axis=0)
        since = self.tokens_since_fired[...]
        dead = since >= self.dead_after
        masked = jnp.where(dead[None, :], pre, -jnp.inf)
        vals, idx = jax.lax.top_k(masked, self.k_aux)
        vals = jnp.where(jnp.isfinite(vals), jax.nn.relu(vals), 0.0)
        aux_z = jnp.zeros_like(pre).at[jnp.arange(pre.shape[0])[:, None], idx].set(vals)
        aux_x_hat = aux_z @ self.W_dec[...]
        self.tokens_since_fired[...] = jnp.where(fired, 0.0, since + x.shape[0])
        if self.kind == "batchtopk":
            kept = jnp.where(z > 0, z, jnp.inf)
            low = jax.lax.stop_gradient(jnp.min(kept))
            low = jnp.where(jnp.isfinite(low), low, self.inference_threshold[...])
            m = self.threshold_momentum
            self.inference_threshold[...] = m * self.inference_threshold[...] + (1 - m) * low
        return SAEOutput(x_hat, z, pre, aux_x_hat, self.threshold())

    def dead_fraction(self) -> Array:
        """Fraction of latents that did not fire in the last ``dead_after`` examples."""
        return jnp.mean((self.tokens_since_fired[...] >= self.dead_after).astype(jnp.float32))

    def init_decoder_bias(self, x: ArrayLike, *, num_iters: int = 100) -> None:
        """Sets ``b_dec`` to the geometric median of ``x`` (Weiszfeld iterations)."""
        self.b_dec[...] = geometric_median(self._check(x), num_iters=num_iters)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _unit_rows(key: jax.Array, rows: int, cols: int) -> Array:
    """Gaussian ``[rows, cols]`` with unit-norm rows (one compiled call, not five eager ops)."""
    w = jax.random.normal(key, (rows, cols), jnp.float32)
    return w / jnp.linalg.norm(w, axis=1, keepdims=True)


def _spectral_norm_sq(w: Array, num_iters: int = 30) -> Array:
    """||w||₂² by power iteration on ``w wᵀ`` from a fixed start (deterministic)."""
    v = jnp.ones((w.shape[1],), w.dtype) / jnp.sqrt(w.shape[1])

    def body(v, _):
        u = w.T @ (w @ v)
        return u / jnp.maximum(jnp.linalg.norm(u), 1e-12), None

    v, _ = jax.lax.scan(body, v, None, length=num_iters)
    return jnp.maximum(jnp.sum(jnp.square(w @ v)), 1e-6) * 1.01  # 1 % margin: L >= true


def geometric_median(x: ArrayLike, *, num_iters: int = 100, eps: float = 1e-8) -> Array:
    """The geometric median ``argmin_m Σ_n ||x_n - m||`` by Weiszfeld's algorithm.

    Args:
      x: points ``[n, dim]``.
      num_iters: fixed number of iterations (starting from the mean).
      eps: floor on distances (a point that coincides with the iterate).

    Returns:
      ``[dim]``.
    """
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"x must be [n, dim] with n >= 1; got shape {x.shape}")
    return _weiszfeld(x, num_iters, eps)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _weiszfeld(x: Array, num_iters: int, eps: float) -> Array:
    def body(m, _):
        w = 1.0 / jnp.maximum(jnp.linalg.norm(x - m[None, :], axis=1), eps)
        return (w @ x) / jnp.sum(w), None

    m, _ = jax.lax.scan(body, jnp.mean(x, axis=0), None, length=num_iters)
    return m


def _is_decoder(path) -> bool:
    return "W_dec" in jax.tree_util.keystr(path)


def unit_norm_decoder(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    """Wraps ``tx`` so every ``W_dec`` row (atom) stays unit norm.

    Before ``tx``: the gradient component parallel to each atom, ``(g·d) d``, is removed
    (it would only change the norm). After ``tx``: the update is replaced by
    ``(d + u)/||d + u|| - d``, so ``params + updates`` has unit-norm atoms exactly.
    Use with ``nnx.Optimizer(model, unit_norm_decoder(tx), wrt=nnx.Param)``.
    """

    def project(updates, state, params):
        def fn(path, g, w):
            if not _is_decoder(path):
                return g
            return g - jnp.sum(g * w, axis=-1, keepdims=True) * w

        return jax.tree_util.tree_map_with_path(fn, updates, params), state

    def renormalize(updates, state, params):
        def fn(path, u, w):
            if not _is_decoder(path):
                return u
            new = w + u
            return new / jnp.maximum(jnp.linalg.norm(new, axis=-1, keepdims=True), 1e-12) - w

        return jax.tree_util.tree_map_with_path(fn, updates, params), state

    def init(params):
        del params
        return optax.EmptyState()

    return optax.chain(
        optax.GradientTransformationExtraArgs(init, lambda u, s, p=None, **kw: project(u, s, p)),
        tx,
        optax.GradientTransformationExtraArgs(
            init, lambda u, s, p=None, **kw: renormalize(u, s, p)
        ),
    )
