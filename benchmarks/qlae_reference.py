"""QLAE train step: the authors' JAX + Equinox code vs qdjax's, interleaved in one process.

Run (fetch the authors' repository yourself; equinox comes with the `[bench]` extra):

    pip install -e ".[bench]"
    git clone https://github.com/kylehkhsu/latent_quantization /tmp/latent_quantization
    python -m benchmarks.qlae_reference --reference-repo=/tmp/latent_quantization \\
        --out benchmarks/results/qlae_reference_cpu.json [--batch-sizes 16,64] \\
        [--steps 3] [--rounds 5] [--impl auto|subpixel|transpose] [--dtype float32|bf16]

Both sides build QLAE at the same configuration (64x64x3 images, 12 latents x 10 values,
the published encoder/decoder of `configs/{encoder,decoder}_partial/image.yaml` and
`style_image.yaml`), the same objective (pixel-mean sigmoid cross-entropy + 0.01
quantization + 0.01 commitment) and the same optimizer (element-wise clip 1, AdamW 1e-3 with
decay 0.1 on weights, Adam on biases and codebooks). The authors' step is their
`scripts/train_ae.py:train_step` as a harness function: `eqx.filter_value_and_grad` of
`model.batched_loss`, `optimizer.update`, `eqx.apply_updates` and the parameter-norm metrics
it logs. qdjax's step is `qdjax.train.make_train_step` jitted with the state donated.

The timing alternates the two codes round by round (order flipped every round) on the same
random images kept on device, so machine load affects both alike; the result is the ratio of
median images/s (qdjax / authors), with every round's rates and the load average in the
JSON. Compilation is timed apart.

Harness-side shims for today's JAX/optax (the authors' code is not modified): stub modules
for `ipdb`, `wandb`, `hydra`, `omegaconf`, `seaborn` when absent (their imports
are unused by the model); `jax.tree_map` -> `jax.tree_util.tree_map`; only the model
subpackages are imported (not `disentangle/__init__.py`, which imports the datasets); the
loss weights are a hashable mapping (they are static under `eqx.filter_jit`); and
`optimizer.update` receives the array-only leaves of the model (`model.filter()`).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from qdjax import nn as qnn
from qdjax import train as qtrain
from qdjax._src.typing import Batch

_STUBS = ("ipdb", "wandb", "hydra", "omegaconf", "seaborn")


class _Stub(types.ModuleType):
    """A module whose every attribute is itself (imports succeed; nothing is called)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self


class HashableDict(dict):
    """The loss weights: a dict (their code indexes it) that `eqx.filter_jit` can hash."""

    def __hash__(self):
        return hash(tuple(sorted(self.items())))


def load_reference(repo: str):
    """Imports the authors' `disentangle` model subpackages from `repo` (with the shims)."""
    root = os.path.abspath(repo)
    pkg = os.path.join(root, "disentangle")
    if not os.path.isfile(os.path.join(pkg, "models", "quantized_ae.py")):
        raise SystemExit(
            f"error: --reference-repo={repo} is not a kylehkhsu/latent_quantization checkout "
            "(no disentangle/models/quantized_ae.py); clone it and pass its path"
        )
    try:
        import equinox  # noqa: F401
    except ImportError:
        raise SystemExit(
            "error: the authors' code needs equinox: pip install -e '.[bench]'"
        ) from None
    for name in _STUBS:
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = _Stub(name)
    if not hasattr(jax, "tree_map") or _deprecated(jax, "tree_map"):
        jax.tree_map = jax.tree_util.tree_map
    # the package and its `models`/`utils` subpackages without their __init__ (datasets, wandb)
    for name in ("disentangle", "disentangle.models", "disentangle.utils"):
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(root, *name.split("."))]
        sys.modules[name] = mod
        if "." in name:
            setattr(sys.modules["disentangle"], name.split(".")[1], mod)
    dis = sys.modules["disentangle"]
    for sub in ("blocks", "latents", "encoders", "decoders", "losses"):
        importlib.import_module(f"disentangle.{sub}")
    dis.models.Model = importlib.import_module("disentangle.models.base").Model
    tree = importlib.import_module("disentangle.utils.tree")
    for attr in ("optax", "unoptax", "relabel_attr"):
        setattr(dis.utils, attr, getattr(tree, attr))
    importlib.import_module("disentangle.models.ae")
    qae = importlib.import_module("disentangle.models.quantized_ae")
    return dis, qae.QuantizedAE


def _deprecated(module, name) -> bool:
    try:
        getattr(module, name)
        return False
    except AttributeError:
        return True


def build_reference(dis, QuantizedAE, *, num_latents: int, num_values: int, seed: int = 0):
    """The authors' QLAE (their published image encoder / style decoder configs)."""
    import equinox as eqx

    stage = dict(kernel_sizes=[3, 3, 4] * 4, strides=[1, 1, 2] * 4, paddings=[1] * 12)
    encoder = functools.partial(
        dis.encoders.ImageEncoder,
        conv_partial=functools.partial(
            dis.blocks.Conv2DBlocks,
            widths=[32] * 3 + [64] * 3 + [128] * 3 + [256] * 3,
            activation="leaky_relu",
            norm="instance_norm",
            **stage,
        ),
        dense_partial=functools.partial(
            dis.blocks.DenseBlocks, widths=[256, 256], activation="relu", norm="none"
        ),
    )
    decoder = functools.partial(
        dis.decoders.StyleImageDecoder,
        dense_partial=functools.partial(
            dis.blocks.DenseBlocks, widths=[256, 256], activation="relu", norm="none"
        ),
        style_conv_transpose_partial=functools.partial(
            dis.blocks.StyleConvTranspose2DBlocks,
            widths=[256] * 3 + [128] * 3 + [64] * 3 + [32] * 3,
            activation="leaky_relu",
            norm="none",
            **stage,
        ),
        conv_partial=functools.partial(
            dis.blocks.Conv2DBlock,
            kernel_size=3,
            stride=1,
            padding=1,
            norm="none",
            activation="none",
        ),
        input_channels=256,
    )
    latent = functools.partial(
        dis.latents.QuantizedLatent,
        num_latents=num_latents,
        num_values_per_latent=num_values,
        optimize_values=True,
    )
    lambdas = HashableDict(
        binary_cross_entropy=1.0, quantization=0.01, commitment=0.01, l2=0.1, l1=0.0
    )
    x0 = jnp.zeros((3, 64, 64), jnp.float32)
    model = QuantizedAE(latent, encoder, decoder, lambdas, x=x0, key=jax.random.PRNGKey(seed))
    config = types.SimpleNamespace(
        model_partial=types.SimpleNamespace(lambdas=lambdas),
        optim=types.SimpleNamespace(clip=1.0, learning_rate=1e-3),
    )
    optimizer, opt_state = model.construct_optimizer(config)

    @eqx.filter_jit
    def train_step(model, opt_state, data, step, key):
        (loss, aux), grads = eqx.filter_value_and_grad(model.batched_loss, has_aux=True)(
            model, data, step, key=key
        )
        # shim: optax sees only the array leaves of the model
        updates, opt_state = optimizer.update(
            dis.utils.optax(grads), opt_state, dis.utils.optax(model.filter())
        )
        model = eqx.apply_updates(model, dis.utils.unoptax(updates))
        metrics = dict(aux["metrics"])
        for tree, name in ((grads, "grads"), (dis.utils.unoptax(updates), "updates")):
            for k_norm, v_norm in tree.partition_norms().items():
                for k_part, v in v_norm.items():
                    metrics[f"{name}_{k_part}/{k_norm}"] = v
        return model, opt_state, metrics

    num_params = int(sum(x.size for x in jax.tree_util.tree_leaves(model.filter())))
    return model, opt_state, train_step, num_params


def build_qdjax(*, num_latents: int, num_values: int, impl: str, dtype: str, seed: int = 0):
    """qdjax's QLAE (architecture "qlae") with the reference objective and optimizer."""
    model = qnn.qlae(
        (64, 64, 3), num_latents, num_values=num_values, dtype=dtype, rngs=nnx.Rngs(seed)
    )
    if impl != "auto":
        for _, m in nnx.iter_graph(model):
            if isinstance(m, qnn.ConvTranspose2x):
                m.impl = impl
    terms = [qtrain.reconstruction_term("bernoulli", per_element=True)]
    terms += list(qtrain.quantization_terms())
    tx = qtrain.make_optimizer(learning_rate=1e-3, weight_decay=0.1, clip_value=1.0)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    step = qtrain.make_train_step(qtrain.make_objective(*terms))
    num_params = qnn.count_params(model)
    graphdef, state = nnx.split((model, optimizer))
    fn = jax.jit(lambda st, b, k: step(graphdef, st, b, k), donate_argnums=0)
    return state, fn, num_params


def _flops(compiled) -> float | None:
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list | tuple) else cost
        return float(cost["flops"])
    except Exception:  # cost analysis is optional per backend
        return None


def measure(batch_size, *, dis, QuantizedAE, args):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch_size, 64, 64, 3)).astype(np.float32)
    key = jax.random.key(0)

    # authors' code: channels-first per example, PRNGKey-style keys
    ref_model, ref_opt, ref_step, ref_params = build_reference(
        dis, QuantizedAE, num_latents=args.num_latents, num_values=args.num_values
    )
    ref_data = {"x": jax.device_put(np.transpose(x, (0, 3, 1, 2)))}
    ref_key = jax.random.PRNGKey(0)
    t = time.perf_counter()
    ref_compiled = ref_step.lower(ref_model, ref_opt, ref_data, jnp.array(0), ref_key).compile()
    ref_compile_s = time.perf_counter() - t
    ref_model, ref_opt, metrics = ref_step(ref_model, ref_opt, ref_data, jnp.array(0), ref_key)
    ref_loss0 = float(jnp.mean(metrics["loss"]))

    # qdjax
    state, fn, q_params = build_qdjax(
        num_latents=args.num_latents, num_values=args.num_values, impl=args.impl, dtype=args.dtype
    )
    batch = jax.device_put(Batch(x, np.zeros((batch_size, 1), np.float32)))
    t = time.perf_counter()
    q_compiled = fn.lower(state, batch, key).compile()
    q_compile_s = time.perf_counter() - t
    state, aux = q_compiled(state, batch, key)
    q_loss0 = float(aux["loss"])
    jax.block_until_ready((ref_model, state))

    def run_ref(n):
        nonlocal ref_model, ref_opt
        for i in range(n):
            ref_model, ref_opt, m = ref_step(ref_model, ref_opt, ref_data, jnp.array(i), ref_key)
        jax.block_until_ready((ref_model, m))

    def run_qdjax(n):
        nonlocal state
        for i in range(n):
            state, a = q_compiled(state, batch, jax.random.fold_in(key, i))
        jax.block_until_ready((state, a))

    runners = {"reference": run_ref, "qdjax": run_qdjax}
    rates = {"reference": [], "qdjax": []}
    load = [os.getloadavg()[0]]
    for r in range(args.rounds):
        order = ("reference", "qdjax") if r % 2 == 0 else ("qdjax", "reference")
        for name in order:
            t = time.perf_counter()
            runners[name](args.steps)
            rates[name].append(args.steps * batch_size / (time.perf_counter() - t))
        load.append(os.getloadavg()[0])
    med = {k: statistics.median(v) for k, v in rates.items()}
    per_round = [q / r for q, r in zip(rates["qdjax"], rates["reference"])]
    return {
        "batch_size": batch_size,
        "reference_images_per_s": med["reference"],
        "qdjax_images_per_s": med["qdjax"],
        "ratio": med["qdjax"] / med["reference"],
        "ratio_per_round": per_round,
        "rates": rates,
        "compile_s": {"reference": ref_compile_s, "qdjax": q_compile_s},
        "flops_per_step": {"reference": _flops(ref_compiled), "qdjax": _flops(q_compiled)},
        "num_params": {"reference": ref_params, "qdjax": q_params},
        "initial_loss": {"reference": ref_loss0, "qdjax": q_loss0},
        "load_average_1min": load,
    }


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "qdjax"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference-repo", required=True, help="kylehkhsu/latent_quantization path")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-sizes", default="16,64")
    p.add_argument("--num-latents", type=int, default=12)
    p.add_argument("--num-values", type=int, default=10)
    p.add_argument("--steps", type=int, default=3, help="steps per timed round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--impl", default="auto", choices=qnn.CONV_TRANSPOSE_IMPLS)
    p.add_argument("--dtype", default="float32", choices=("float32", "bf16"))
    args = p.parse_args(argv)
    try:
        sizes = [int(v) for v in args.batch_sizes.split(",")]
    except ValueError:
        raise SystemExit(
            f"error: --batch-sizes must be integers, e.g. 16,64; got {args.batch_sizes}"
        )
    if args.steps < 1 or args.rounds < 1:
        raise SystemExit("error: --steps and --rounds must be >= 1")
    dis, QuantizedAE = load_reference(args.reference_repo)
    commit = _commit()  # the code measured: taken at the start, not when the JSON is written
    rows = []
    dev = jax.devices()[0]
    for b in sizes:
        row = measure(b, dis=dis, QuantizedAE=QuantizedAE, args=args)
        rows.append(row)
        print(
            f"batch {b:4d}: authors {row['reference_images_per_s']:8.1f} img/s, qdjax "
            f"{row['qdjax_images_per_s']:8.1f} img/s, ratio {row['ratio']:.2f} "
            f"(rounds {', '.join(f'{r:.2f}' for r in row['ratio_per_round'])}); params "
            f"{row['num_params']}, initial loss {row['initial_loss']}",
            flush=True,
        )
        out = {
            "benchmark": "qlae_reference",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "commit": commit,
            "command": "python -m benchmarks.qlae_reference " + " ".join(sys.argv[1:]),
            "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
            "jax": jax.__version__,
            "equinox": importlib.import_module("equinox").__version__,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "impl": args.impl,
            "dtype": args.dtype,
            "steps": args.steps,
            "rounds": args.rounds,
            "results": rows,
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
