"""PaiNN, the polarizable atom interaction neural network (Schuett, Unke, Gastegger,
ICML 2021, "Equivariant message passing for the prediction of tensorial properties
and molecular spectra"), as schnetpack 2.1 implements it (`representation.PaiNN`).

Every atom carries scalar features s [N, F] (from an element embedding) and vector
features v [N, 3, F] (starting at zero). Each of the `num_interactions` layers is
1. a message block: a network phi (F -> F -> 3F) of the neighbour's scalars is
   multiplied by filters W(r_ij) (a linear map of the radial basis sin(n pi r / rc) / r,
   n = 1..num_basis, times a cosine cutoff) and split into three F-blocks, in this
   order: the scalar message, a direction term that multiplies the unit vector
   r_ij / |r_ij| and a gate on the neighbour's vectors v_j; both are summed over the
   neighbours and added to s and v;
2. an update block: two bias-free linear maps of the vectors, V v and U v (one
   F -> 2F layer, V first); a network (2F -> F -> 3F) of [s, ||V v||] gives a_ss,
   a_vv, a_sv (in this order); s += a_ss + a_sv <U v, V v>, v += a_vv U v.
A readout network (F -> F/2 -> 1, schnetpack's Atomwise) turns the final scalars
into per-atom energies. Scalars are built from distances, norms and dot products
only, so the energy is invariant under rotations and reflections.

Defaults are the paper's and schnetpack's: 128 features, 3 interactions, 20 radial
functions, 5 A cosine cutoff, SiLU everywhere.

Options for schnetpack compatibility:
- `shared_filters`: one filter network output (3F) used by every layer, instead of
  a separate 3F block per layer (schnetpack computes all layers' filters with one
  linear layer, num_interactions * 3F wide, and splits it).
- `shared_interactions`: every layer uses the same message and update weights.
- `epsilon`: ||V v|| = sqrt(sum (V v)^2 + epsilon), inside the square root, so that
  the gradient is finite where the vectors vanish (they all start at zero).
- The radial functions are not normalised (schnetpack's BesselRBF omits DimeNet's
  sqrt(2 / rc)); the network learns the scale.
"""

from typing import List

import torch
from torch import nn

from ..nn import MLP, BesselBasis, CosineCutoff, scatter_sum
from .base import AtomisticModel


class MessageBlock(nn.Module):
    def __init__(self, num_features: int, activation: str):
        super().__init__()
        self.num_features = num_features
        self.context = MLP([num_features, num_features, 3 * num_features], activation)

    def forward(self, scalars: torch.Tensor, vectors: torch.Tensor, filters: torch.Tensor, directions: torch.Tensor,
                centres: torch.Tensor, neighbours: torch.Tensor, vectors_are_zero: bool):
        # index_select: its backward is a plain index_add (x[idx]'s is a slower index_put)
        x = self.context(scalars).index_select(0, neighbours) * filters
        scalar_message, direction_weight, vector_gate = torch.split(x, self.num_features, dim=-1)
        # direction term (+ gate on the neighbour's vectors, which are all zero in the
        # first layer: skipping it there is exact and saves an [E, 3, F] product)
        # (one [E, F] product per Cartesian component: a cheaper backward pass than
        # one broadcast [E, 3, 1] x [E, 1, F] product)
        vector_message = torch.stack([direction_weight * directions[:, a : a + 1] for a in range(3)], 1)
        if not vectors_are_zero:
            vector_message = vector_message + vector_gate.unsqueeze(1) * vectors.index_select(0, neighbours)
        num_atoms = scalars.shape[0]
        scalars = scalars + scatter_sum(scalar_message, centres, num_atoms)
        vectors = vectors + scatter_sum(vector_message, centres, num_atoms)
        return scalars, vectors


class UpdateBlock(nn.Module):
    def __init__(self, num_features: int, activation: str, epsilon: float):
        super().__init__()
        self.num_features = num_features
        self.epsilon = float(epsilon)
        # One bias-free linear map over the feature channels, [V; U]: it mixes channels
        # of each Cartesian component alike, so it keeps the vectors equivariant.
        self.vector_mix = nn.Linear(num_features, 2 * num_features, bias=False)
        self.context = MLP([2 * num_features, num_features, 3 * num_features], activation)

    def forward(self, scalars: torch.Tensor, vectors: torch.Tensor):
        v_vectors, u_vectors = torch.split(self.vector_mix(vectors), self.num_features, dim=-1)
        norm = torch.sqrt(torch.sum(v_vectors * v_vectors, dim=1) + self.epsilon)
        x = self.context(torch.cat([scalars, norm], dim=-1))
        a_ss, a_vv, a_sv = torch.split(x, self.num_features, dim=-1)
        scalars = scalars + a_ss + a_sv * torch.sum(v_vectors * u_vectors, dim=1)
        vectors = vectors + a_vv.unsqueeze(1) * u_vectors
        return scalars, vectors


class PaiNN(AtomisticModel):
    architecture = "painn"

    def __init__(
        self,
        elements: List[str],
        cutoff: float = 5.0,
        num_features: int = 128,
        num_interactions: int = 3,
        num_basis: int = 20,
        activation: str = "silu",
        shared_interactions: bool = False,
        shared_filters: bool = False,
        epsilon: float = 1e-8,
        readout_activation: str = "silu",
    ):
        super().__init__(elements, cutoff, num_interactions)
        self.num_features = num_features
        self.embedding = nn.Embedding(len(elements), num_features)
        self.basis = BesselBasis(num_basis, cutoff, normalize=False)
        self.envelope = CosineCutoff(cutoff)
        # Filters of all layers from one linear layer: layer k reads columns
        # [k * filter_step, k * filter_step + 3F), filter_step = 0 when shared.
        self.filter_network = nn.Linear(num_basis, 3 * num_features * (1 if shared_filters else num_interactions))
        self.filter_step = 0 if shared_filters else 3 * num_features
        if shared_interactions:
            # The same module in every slot, so the weights are tied (state_dict keys
            # still name every layer, as schnetpack's do).
            message, update = MessageBlock(num_features, activation), UpdateBlock(num_features, activation, epsilon)
            self.messages = nn.ModuleList([message] * num_interactions)
            self.updates = nn.ModuleList([update] * num_interactions)
        else:
            self.messages = nn.ModuleList([MessageBlock(num_features, activation) for _ in range(num_interactions)])
            self.updates = nn.ModuleList(
                [UpdateBlock(num_features, activation, epsilon) for _ in range(num_interactions)]
            )
        self.readout = MLP([num_features, max(1, num_features // 2), 1], readout_activation)

    def atomic_outputs(
        self, species: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor
    ) -> torch.Tensor:
        distances = torch.linalg.norm(edge_vectors, dim=-1)
        directions = edge_vectors / distances.unsqueeze(-1)
        basis = self.basis(distances)
        envelope = self.envelope(distances).unsqueeze(-1)
        scalars = self.embedding(species)
        vectors = torch.zeros(
            (scalars.shape[0], 3, self.num_features), dtype=scalars.dtype, device=scalars.device
        )
        centres, neighbours = edge_index[0], edge_index[1]
        width = 3 * self.num_features
        weight, bias = self.filter_network.weight, self.filter_network.bias
        for k, (message, update) in enumerate(zip(self.messages, self.updates)):
            # This layer's rows of the filter network, applied on their own (slicing the
            # output of all layers at once would cost a zero-filled [E, 3F x layers]
            # gradient per layer in the backward pass).
            start = k * self.filter_step
            filters = nn.functional.linear(basis, weight.narrow(0, start, width), bias.narrow(0, start, width))
            filters = filters * envelope
            scalars, vectors = message(scalars, vectors, filters, directions, centres, neighbours, k == 0)
            scalars, vectors = update(scalars, vectors)
        return self.readout(scalars).squeeze(-1)
