"""Building blocks shared by every architecture: radial bases, cutoff functions,
activations and scatter sums. Each is written once here and imported by the models."""

from .activations import ShiftedSoftplus, shifted_softplus
from .cutoffs import CosineCutoff, PolynomialCutoff
from .radial import BesselBasis, GaussianBasis
from .scatter import scatter_sum

__all__ = [
    "BesselBasis",
    "CosineCutoff",
    "GaussianBasis",
    "PolynomialCutoff",
    "ShiftedSoftplus",
    "scatter_sum",
    "shifted_softplus",
]
