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

Each pair's filters are computed once, on its i < j edge, and its messages go both
ways (equipot.nn.undirected_edges; the direction flips): the same function as over
every directed edge, at less per-edge cost.

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

from ..nn import MLP, BesselBasis, CosineCutoff, scatter_two_way, undirected_edges
from .base import AtomisticModel


class MessageBlock(nn.Module):
    def __init__(self, num_features: int, activation: str):
        super().__init__()
        self.num_features = num_features
        self.context = MLP([num_features, num_features, 3 * num_features], activation)

    def context_parts(self, scalars: torch.Tensor) -> List[torch.Tensor]:
        """phi(s) as three contiguous [N, F] parts (scalar message, direction weight,
        vector gate): the last layer applied block by block, so that the per-edge
        products below run over contiguous rows instead of strided views of [., 3F]."""
        hidden = self.context[1](self.context[0](scalars))
        last = self.context[2]
        width = self.num_features
        return [nn.functional.linear(hidden, last.weight.narrow(0, k * width, width), last.bias.narrow(0, k * width, width))
                for k in range(3)]

    def forward(self, scalars: torch.Tensor, vectors: torch.Tensor, filters: List[torch.Tensor],
                directions: torch.Tensor, first: torch.Tensor, second: torch.Tensor, num_pairs: int,
                vectors_are_zero: bool):
        """Messages over undirected edges (equipot.nn.undirected_edges): the filters
        W(r) are computed once per pair and used both ways; the direction flips."""
        context = self.context_parts(scalars)
        to_first = _messages(context, vectors, filters, directions, second, vectors_are_zero)
        pair_filters = [f.narrow(0, 0, num_pairs) for f in filters]
        to_second = _messages(context, vectors, pair_filters, -directions.narrow(0, 0, num_pairs),
                              first.narrow(0, 0, num_pairs), vectors_are_zero)
        num_atoms = scalars.shape[0]
        scalars = scalars + scatter_two_way(to_first[0], to_second[0], first, second, num_pairs, num_atoms)
        vectors = vectors + scatter_two_way(to_first[1], to_second[1], first, second, num_pairs, num_atoms)
        return scalars, vectors


def _messages(context: List[torch.Tensor], vectors: torch.Tensor, filters: List[torch.Tensor],
              directions: torch.Tensor, source: torch.Tensor, vectors_are_zero: bool) -> List[torch.Tensor]:
    """(scalar [E, F], vector [E, 3, F]) messages from the atoms `source` along edges
    whose unit vectors (towards the source) are `directions`."""
    # index_select: its backward is a plain index_add (x[idx]'s is a slower index_put)
    scalar_message = context[0].index_select(0, source) * filters[0]
    direction_weight = context[1].index_select(0, source) * filters[1]
    # one [E, F] product per Cartesian component: a cheaper backward pass than one
    # broadcast [E, 3, 1] x [E, 1, F] product
    vector_message = torch.stack([direction_weight * directions[:, a : a + 1] for a in range(3)], 1)
    if not vectors_are_zero:  # the gate on the source's vectors: all zero in the first layer
        gate = context[2].index_select(0, source) * filters[2]
        vector_message = vector_message + gate.unsqueeze(1) * vectors.index_select(0, source)
    return [scalar_message, vector_message]


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
        edges, num_pairs = undirected_edges(edge_index)
        first, second = edge_index[0].index_select(0, edges), edge_index[1].index_select(0, edges)
        edge_vectors = edge_vectors.index_select(0, edges)
        distances = torch.linalg.norm(edge_vectors, dim=-1)
        directions = edge_vectors / distances.unsqueeze(-1)
        basis = self.basis(distances)
        envelope = self.envelope(distances).unsqueeze(-1)
        scalars = self.embedding(species)
        vectors = torch.zeros(
            (scalars.shape[0], 3, self.num_features), dtype=scalars.dtype, device=scalars.device
        )
        width = self.num_features
        weight, bias = self.filter_network.weight, self.filter_network.bias
        for k, (message, update) in enumerate(zip(self.messages, self.updates)):
            # This layer's three F-blocks of filter rows, each applied on its own:
            # contiguous [pairs, F] filters, and no zero-filled gradient of a sliced
            # output of all layers in the backward pass.
            start = k * self.filter_step
            filters = [nn.functional.linear(basis, weight.narrow(0, start + b * width, width),
                                            bias.narrow(0, start + b * width, width)) * envelope for b in range(3)]
            scalars, vectors = message(scalars, vectors, filters, directions, first, second, num_pairs, k == 0)
            scalars, vectors = update(scalars, vectors)
        return self.readout(scalars).squeeze(-1)
