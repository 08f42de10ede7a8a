"""Building blocks shared by every architecture, one mathematical idea per file:
radial bases, cutoff envelopes, activations, MLPs, scatter/segment operations,
graph helpers and angular bases. Each is written once here and imported by the
models."""

from .activations import ACTIVATIONS, ShiftedSoftplus, activation, shifted_softplus
from .cutoffs import CosineCutoff, PolynomialEnvelope
from .graph import triplets
from .mlp import MLP
from .radial import BesselBasis, ExpNormalBasis, GaussianBasis
from .scatter import scatter_mean, scatter_sum, segment_softmax

__all__ = [
    "ACTIVATIONS",
    "BesselBasis",
    "CosineCutoff",
    "ExpNormalBasis",
    "GaussianBasis",
    "MLP",
    "PolynomialEnvelope",
    "ShiftedSoftplus",
    "activation",
    "scatter_mean",
    "scatter_sum",
    "segment_softmax",
    "shifted_softplus",
    "triplets",
]
