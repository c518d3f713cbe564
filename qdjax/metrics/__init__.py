"""Disentanglement metrics: host-side NumPy/SciPy/scikit-learn, arrays in, numbers out.

Every metric takes codes `z: [n, num_latents]` and factors `s: [n, num_factors]` and returns a
NamedTuple of sub-scores. Metrics never call models or samplers; `qdjax.train.evaluate` does.
"""

from qdjax.metrics._dci import DCIResult as DCIResult
from qdjax.metrics._dci import DCIScores as DCIScores
from qdjax.metrics._dci import dci as dci
from qdjax.metrics._dci import dci_from_importance as dci_from_importance
from qdjax.metrics._factorvae import FactorVAEResult as FactorVAEResult
from qdjax.metrics._factorvae import factorvae_global_scale as factorvae_global_scale
from qdjax.metrics._factorvae import factorvae_score_from_batches as factorvae_score_from_batches
from qdjax.metrics._factorvae import factorvae_score_from_votes as factorvae_score_from_votes
from qdjax.metrics._factorvae import factorvae_votes as factorvae_votes
from qdjax.metrics._infomec import InfoMECResult as InfoMECResult
from qdjax.metrics._infomec import infom_infoc_from_nmi as infom_infoc_from_nmi
from qdjax.metrics._infomec import infomec as infomec
from qdjax.metrics._mcc import MCCResult as MCCResult
from qdjax.metrics._mcc import abs_correlation as abs_correlation
from qdjax.metrics._mcc import mcc as mcc
from qdjax.metrics._mig import MIGResult as MIGResult
from qdjax.metrics._mig import mig as mig
from qdjax.metrics._mig import mutual_info_gap as mutual_info_gap
from qdjax.metrics._mutual_info import discrete_entropy as discrete_entropy
from qdjax.metrics._mutual_info import discrete_mutual_info as discrete_mutual_info
from qdjax.metrics._mutual_info import discretize as discretize
from qdjax.metrics._quantized import CellAccuracyResult as CellAccuracyResult
from qdjax.metrics._quantized import PartitionAgreementResult as PartitionAgreementResult
from qdjax.metrics._quantized import cells_from_thresholds as cells_from_thresholds
from qdjax.metrics._quantized import partition_agreement as partition_agreement
from qdjax.metrics._quantized import quantized_cell_accuracy as quantized_cell_accuracy
from qdjax.metrics._reconstruction import bce as bce
from qdjax.metrics._reconstruction import mse as mse
from qdjax.metrics._reconstruction import psnr as psnr
from qdjax.metrics._sap import SAPResult as SAPResult
from qdjax.metrics._sap import sap as sap
from qdjax.metrics._sap import top_two_gap as top_two_gap
