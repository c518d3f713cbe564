"""The stand-in table at a longer length on one GPU, inside the ≤ 8-minute device budget
(benchmarks/gpu_images.sh runs it for ae / betavae / qlae / cliff x seeds 100-102).

The dlib-style net at its default widths, batch 128 for every method (Cliff's registry
default is 64; one batch size keeps the comparison fair), 3000 steps (Cliff: AE warm-up
1000, ramp 500), 5000 held-out images, DCI with random forests, no plots. Still ~1/70 of
the papers' 2e5 steps: a scaled run, reported as such.
"""

from experiments.images.configs import default


def get_config(dataset: str | None = None):
    c = default.get_config(dataset)
    c.data.num_eval = 5000
    c.data.num_eval_curve = 512
    c.model.architecture = "dlib"
    c.train.num_steps = 3000
    c.train.batch_size = 128
    c.train.checkpoint_every = 3000
    c.train.eval_every = 1000
    c.train.log_every = 250
    c.loss.warmup_steps = 1000
    c.loss.ramp_steps = 500
    c.eval.dci_backend = "forest"
    c.eval.dci_train_size = 4000
    c.eval.plot = False
    return c
