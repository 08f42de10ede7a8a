"""SchNet (Schuett et al., J. Chem. Phys. 148, 241722 (2018)).

Atoms start from an element embedding; each interaction block updates them with a
continuous-filter convolution, whose filters are a network of the interatomic
distance (Gaussian expansion) times a cosine cutoff, and adds the result back
(residual). An atom-wise network turns the final features into per-atom energies.

Defaults: shifted softplus ln(1 + e^x) - ln 2 in the interactions and the readout
(the paper's). `activation` and `readout_activation` name other ones; schnetpack's
Atomwise readout, for instance, uses SiLU.
"""

from typing import List

import torch
from torch import nn

from ..nn import CosineCutoff, GaussianBasis, activation as make_activation, scatter_two_way, undirected_edges
from .base import AtomisticModel


class InteractionBlock(nn.Module):
    def __init__(self, num_features: int, num_filters: int, num_basis: int, activation: str = "ssp"):
        super().__init__()
        self.atoms_to_filters = nn.Linear(num_features, num_filters, bias=False)
        self.filter_network = nn.Sequential(
            nn.Linear(num_basis, num_filters), make_activation(activation), nn.Linear(num_filters, num_filters)
        )
        self.filters_to_atoms = nn.Sequential(
            nn.Linear(num_filters, num_features), make_activation(activation), nn.Linear(num_features, num_features)
        )

    def forward(self, features: torch.Tensor, first: torch.Tensor, second: torch.Tensor, num_pairs: int,
                basis: torch.Tensor, envelope: torch.Tensor) -> torch.Tensor:
        # One filter per pair of atoms (it depends on the distance only), used both ways.
        filters = self.filter_network(basis) * envelope.unsqueeze(-1)
        projected = self.atoms_to_filters(features)
        to_first = projected.index_select(0, second) * filters
        to_second = projected.index_select(0, first[:num_pairs]) * filters[:num_pairs]
        messages = scatter_two_way(to_first, to_second, first, second, num_pairs, features.shape[0])
        return self.filters_to_atoms(messages)


class SchNet(AtomisticModel):
    architecture = "schnet"

    def __init__(
        self,
        elements: List[str],
        cutoff: float = 5.0,
        num_features: int = 128,
        num_filters: int = 128,
        num_interactions: int = 3,
        num_basis: int = 32,
        activation: str = "ssp",
        readout_activation: str = "ssp",
    ):
        super().__init__(elements, cutoff, num_interactions)
        self.embedding = nn.Embedding(len(elements), num_features)
        self.basis = GaussianBasis(num_basis, cutoff)
        self.envelope = CosineCutoff(cutoff)
        self.interactions = nn.ModuleList(
            [InteractionBlock(num_features, num_filters, num_basis, activation) for _ in range(num_interactions)]
        )
        self.readout = nn.Sequential(
            nn.Linear(num_features, num_features // 2),
            make_activation(readout_activation),
            nn.Linear(num_features // 2, 1),
        )

    def atomic_outputs(
        self, species: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor
    ) -> torch.Tensor:
        edges, num_pairs = undirected_edges(edge_index)
        first, second = edge_index[0].index_select(0, edges), edge_index[1].index_select(0, edges)
        distances = torch.linalg.norm(edge_vectors.index_select(0, edges), dim=-1)
        basis = self.basis(distances)
        envelope = self.envelope(distances)
        features = self.embedding(species)
        for interaction in self.interactions:
            features = features + interaction(features, first, second, num_pairs, basis, envelope)
        return self.readout(features).squeeze(-1)
