"""Image disentanglement benchmark shared by experiments.{shapes3d,mpi3d,dsprites,...}.

`get_config("shapes3d")` (the `--config=...:shapes3d` argument) picks the dataset. Sizes are
the QLAE reference's (its conv encoder + style decoder, batch 128, 2e5 steps on a GPU) except
`train.num_steps`, which is CPU-sized here: raise it with `--config.train.num_steps=200000`.
`--config.model.architecture=dlib` with small `channels`/`dense` is the dlib-style small net.

The method's recipe (loss weights, warm-up, optimizer, batch size, codebook size) comes from
the registry, `qdjax.methods`, with the authors' per-dataset values: the recipe fields below
are empty placeholders, and setting one (`--config.loss.beta=1`) overrides that setting.
"""

import ml_collections

from experiments import _methods


def get_config(dataset: str | None = None) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.dataset = dataset or "shapes3d"  # shapes3d | mpi3d | dsprites | falcor3d | isaac3d
    c.method = "qlae"  # a name in qdjax.methods.names("shapes3d")
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    # auto: the file under $QDJAX_DATA_DIR if present, else (shapes3d only) the procedural
    # stand-in; procedural | h5 | npz | tfds ask for one source explicitly (no fallback).
    c.data.source = "auto"
    c.data.path = ""  # file (h5/npz) or release dir; for tfds the tfds data dir
    c.data.variant = "toy"  # mpi3d: toy | realistic | real | complex
    c.data.num_eval = 10000  # held-out examples for the final metrics
    c.data.num_eval_curve = 256  # held-out examples for the PSNR logged during training
    c.data.device_budget_gb = 16.0  # datasets up to this size are held on the device
    c.data.render_supersample = 2  # procedural stand-in: rays per pixel per axis
    c.data.render_size = 64  # procedural stand-in: image size (64 = Shapes3D; 16 in tests)

    c.model = ml_collections.ConfigDict()
    c.model.num_latents = 0  # 0 = twice the number of factors (QLAE default)
    c.model.architecture = "qlae"  # "qlae" (reference) | "dlib" (small)
    c.model.channels = ()  # () = the architecture's default widths
    c.model.dense = ()
    c.model.depth = 0  # 0 = the architecture's default

    c.train = ml_collections.ConfigDict()
    c.train.num_steps = 2000
    c.train.checkpoint_every = 1000
    c.train.keep_checkpoints = 2
    c.train.log_every = 50
    c.train.eval_every = 500
    c.train.progress = True

    # Recipe settings (loss.*, train.batch_size / learning_rate / weight_decay / clip_value,
    # model.num_values / quantizer): empty = the method's value in qdjax.methods for this
    # dataset (the same keys for every image dataset).
    _methods.add_recipe_fields(c, "shapes3d")

    c.eval = ml_collections.ConfigDict()
    c.eval.dci_backend = "gbt"  # "gbt" (disentanglement_lib) | "forest" (faster)
    c.eval.dci_train_size = 8000
    c.eval.plot = True
    c.eval.metric_threads = 0  # BLAS/OpenMP threads for the metrics; 0 = the libraries' default
    return c
