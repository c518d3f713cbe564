"""Disentanglement metrics: host-side NumPy/SciPy/scikit-learn, arrays in, numbers out."""

from qdjax.metrics._mcc import MCCResult as MCCResult
from qdjax.metrics._mcc import abs_correlation as abs_correlation
from qdjax.metrics._mcc import mcc as mcc
