"""shapes3d, CPU-sized (experiments/images/configs/cpu.py)."""

from experiments.images.configs import cpu


def get_config():
    return cpu.get_config("shapes3d")
