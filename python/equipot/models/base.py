"""The frozen-model contract on the Python side (export/SPEC.md).

Every architecture is an AtomisticModel: forward(species, edge_index, edge_vectors)
returns per-atom energies in eV. Forces, stress and virials are never predicted
directly; whoever calls the model takes them from autograd through edge_vectors.

A subclass
- sets `architecture` (the name `equipot train --model NAME` takes),
- calls `super().__init__(elements, cutoff, num_layers)` where `num_layers` is the
  number of graph hops its energy sees (the receptive field in cutoffs that a
  domain-decomposed caller such as LAMMPS builds its ghost shell from), derived from
  its own hyperparameters, never a free constructor argument,
- implements `atomic_outputs`.
Its constructor arguments are recorded automatically (see `__init_subclass__`), so a
checkpoint can rebuild the model without a hand-written list per architecture.
"""

import functools
import inspect
from typing import Dict, List

import torch
from torch import nn


class AtomisticModel(nn.Module):
    architecture: str = ""

    def __init_subclass__(cls, **kwargs):
        # Record the arguments of the outermost constructor call (defaults filled in,
        # `elements` left out): these are the hyperparameters a checkpoint stores.
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        constructor = cls.__init__
        signature = inspect.signature(constructor)

        @functools.wraps(constructor)
        def recording_init(self, *args, **kw):
            outermost = not hasattr(self, "_recording")
            if outermost:
                object.__setattr__(self, "_recording", True)
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                arguments.pop("self")
                arguments.pop("elements", None)
            constructor(self, *args, **kw)
            if outermost:
                object.__delattr__(self, "_recording")
                self._hyperparameters = arguments

        cls.__init__ = recording_init

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

    @classmethod
    def hyperparameter_defaults(cls) -> Dict:
        """The constructor arguments besides elements, with their defaults: the keys of
        a config's `model:` section, and what `equipot models` lists."""
        parameters = list(inspect.signature(cls.__init__).parameters.values())[2:]  # self, elements
        return {parameter.name: parameter.default for parameter in parameters}

    @torch.jit.unused
    def set_data_statistics(self, mean_num_neighbors: float) -> None:
        """Called by training before the first epoch with statistics of the training
        set, for architectures that normalise by them (NequIP's neighbour sums);
        nothing by default."""

    @torch.jit.unused
    def hyperparameters(self) -> Dict:
        """Constructor arguments (besides elements) that rebuild this model."""
        return dict(self._hyperparameters)

    @torch.jit.unused
    def script(self) -> torch.jit.ScriptModule:
        """TorchScript of this model. Architectures whose modules need a special
        compiler (e3nn's `e3nn.util.jit.script`) override this hook."""
        return torch.jit.script(self)
