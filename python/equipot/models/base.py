"""The frozen-model contract on the Python side (export/SPEC.md).

Every architecture is an AtomisticModel: forward(species, edge_index, edge_vectors)
returns per-atom energies in eV. Forces, stress and virials are never predicted
directly; whoever calls the model takes them from autograd through edge_vectors.
"""

from typing import Dict, List

import torch
from torch import nn


class AtomisticModel(nn.Module):
    architecture: str = ""

    def __init__(self, elements: List[str], cutoff: float, num_layers: int):
        super().__init__()
        self.elements = list(elements)
        self.cutoff = float(cutoff)
        self.num_layers = int(num_layers)
        # Output normalisation, set from training data before training (training.py):
        # E_i = scale * (network output)_i + reference_energy[species_i].
        self.register_buffer("reference_energies", torch.zeros(len(elements)))
        self.register_buffer("energy_scale", torch.ones(()))

    def atomic_outputs(
        self, species: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor
    ) -> torch.Tensor:
        """Unscaled per-atom outputs [N]; each architecture implements this."""
        raise NotImplementedError

    def forward(
        self, species: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor
    ) -> torch.Tensor:
        """species: int64 [N] indices into `elements`; edge_index: int64 [2, E] with
        row 0 the centre atom i and row 1 its neighbour j; edge_vectors: [E, 3]
        r_j - r_i in Angstrom. Returns per-atom energies [N] in eV."""
        outputs = self.atomic_outputs(species, edge_index, edge_vectors)
        return outputs * self.energy_scale + self.reference_energies[species]

    @torch.jit.unused
    def hyperparameters(self) -> Dict:
        """Constructor arguments (besides elements) that rebuild this model."""
        raise NotImplementedError
