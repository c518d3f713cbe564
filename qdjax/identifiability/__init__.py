"""Post-hoc identifiability verdicts about a learned model.

Every check returns a :class:`Verdict` subclass (``holds: bool | None``, the numbers
behind it, the tolerance used, ``to_json()``, ``summary()``) with a plot function beside
it in its module. See ``_verdict.py`` for the convention.
"""

from qdjax.identifiability._agreement import (
    CodeAgreementVerdict,
    code_agreement,
    plot_code_agreement,
)
from qdjax.identifiability._coherence import (
    CoherenceStats,
    SparseCodeVerdict,
    babel,
    coherence_stats,
    dependent_subset,
    k_sparse_verdict,
    measured_l0,
    mutual_coherence,
    plot_k_sparse,
    spark,
)
from qdjax.identifiability._consistency import (
    DictionaryMatch,
    SeedConsistencyVerdict,
    abs_cosine,
    dictionary_mcc,
    plot_seed_consistency,
    seed_consistency,
)
from qdjax.identifiability._grid import RECOVER_GRID_VERSION, GridRecovery, plot_grid, recover_grid
from qdjax.identifiability._ica import (
    FastICAResult,
    NonGaussianityVerdict,
    fast_ica,
    non_gaussianity_verdict,
    plot_non_gaussianity,
)
from qdjax.identifiability._jacobian import (
    check_groups,
    components,
    decoder_jacobians,
    group_support,
    support_graph,
    support_mask,
)
from qdjax.identifiability._jacobian_checks import (
    FullRankVerdict,
    TypeDVerdict,
    TypeHVerdict,
    TypeMVerdict,
    TypeSVerdict,
    cross_derivatives,
    full_rank,
    type_d,
    type_h,
    type_m,
    type_s,
)
from qdjax.identifiability._jacobian_groups import (
    JacobianVerdict,
    SupportStability,
    jacobian_groups,
    plot_support,
    plot_support_graph,
    support_stability,
)
from qdjax.identifiability._verdict import Verdict, to_jsonable

__all__ = [
    "RECOVER_GRID_VERSION",
    "GridRecovery",
    "Verdict",
    "plot_grid",
    "recover_grid",
    "to_jsonable",
]
__all__ += [  # do restarts learn the same code? (identifiability's observable consequence)
    "CodeAgreementVerdict",
    "code_agreement",
    "plot_code_agreement",
]
__all__ += [  # mechanistic independence (Jacobian supports), seed 004
    "FullRankVerdict",
    "JacobianVerdict",
    "SupportStability",
    "TypeDVerdict",
    "TypeHVerdict",
    "TypeMVerdict",
    "TypeSVerdict",
    "check_groups",
    "components",
    "cross_derivatives",
    "decoder_jacobians",
    "full_rank",
    "group_support",
    "jacobian_groups",
    "plot_support",
    "plot_support_graph",
    "support_graph",
    "support_mask",
    "support_stability",
    "type_d",
    "type_h",
    "type_m",
    "type_s",
]
__all__ += [  # concept extraction (SAEs, dictionary learning, ICA), seed 003
    "CoherenceStats",
    "DictionaryMatch",
    "FastICAResult",
    "NonGaussianityVerdict",
    "SeedConsistencyVerdict",
    "SparseCodeVerdict",
    "abs_cosine",
    "babel",
    "coherence_stats",
    "dependent_subset",
    "dictionary_mcc",
    "fast_ica",
    "k_sparse_verdict",
    "measured_l0",
    "mutual_coherence",
    "non_gaussianity_verdict",
    "plot_k_sparse",
    "plot_non_gaussianity",
    "plot_seed_consistency",
    "seed_consistency",
    "spark",
]
