"""Building blocks shared by every architecture: radial bases, cutoff functions,
activations and scatter sums. Each is written once here and imported by the models."""

from .activations import ShiftedSoftplus, shifted_softplus
from .cutoffs import CosineCutoff
from .radial import GaussianBasis
from .scatter import scatter_sum

__all__ = [
    "CosineCutoff",
    "GaussianBasis",
    "ShiftedSoftplus",
    "scatter_sum",
    "shifted_softplus",
]
