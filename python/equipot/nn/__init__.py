"""Building blocks shared by every architecture, one mathematical idea per file:
radial bases, cutoff envelopes, activations, MLPs, scatter/segment operations,
graph helpers, angular bases, rotations of spherical-harmonic features (Wigner-D),
functions on a grid of the sphere and equivariant norms. Each is written once here and imported by the
models."""

from .activations import ACTIVATIONS, ShiftedSoftplus, activation, shifted_softplus
from .angular import (SphericalBesselBasis, real_spherical_harmonics, spherical_bessel_roots, spherical_jn,
                      zonal_spherical_harmonics)
from .cutoffs import CosineCutoff, PolynomialEnvelope
from .equivariant_norm import EquivariantLayerNormSH, EquivariantRMSNorm
from .graph import edge_slots, scatter_two_way, triplet_blocks, triplets, undirected_edges
from .mlp import MLP
from .radial import BesselBasis, ExpNormalBasis, GaussianBasis
from .s2_grid import S2Grid
from .tensor_product import EdgeTensorProduct
from .symbolic import data_dependent_size, tracing_symbolically
from .scatter import scatter_add_rows, scatter_mean, scatter_sum, segment_softmax
from .wigner import WignerD, edge_frames

__all__ = [
    "ACTIVATIONS",
    "BesselBasis",
    "CosineCutoff",
    "EdgeTensorProduct",
    "EquivariantLayerNormSH",
    "EquivariantRMSNorm",
    "ExpNormalBasis",
    "GaussianBasis",
    "MLP",
    "PolynomialEnvelope",
    "S2Grid",
    "SphericalBesselBasis",
    "ShiftedSoftplus",
    "WignerD",
    "activation",
    "data_dependent_size",
    "edge_frames",
    "edge_slots",
    "real_spherical_harmonics",
    "scatter_add_rows",
    "scatter_mean",
    "scatter_sum",
    "scatter_two_way",
    "segment_softmax",
    "shifted_softplus",
    "spherical_bessel_roots",
    "spherical_jn",
    "tracing_symbolically",
    "triplet_blocks",
    "triplets",
    "undirected_edges",
    "zonal_spherical_harmonics",
]
