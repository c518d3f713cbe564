"""dsprites defaults: the shared image-benchmark config (experiments/images/configs/default.py)."""

from experiments.images.configs import default


def get_config():
    return default.get_config("dsprites")
