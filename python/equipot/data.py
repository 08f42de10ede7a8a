"""Structures, graphs and batches for training and for the Python reference path.

Forces and stress here come from autograd with respect to atom positions and a
homogeneous strain, which is independent of how the C++ core assembles them from
edge gradients: the export-parity tests compare the two.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from . import _core
from .nn import scatter_sum


def read_structures(path: str):
    """Every frame of a file ASE can read (extxyz, ...), as ase.Atoms."""
    import ase.io

    frames = ase.io.read(path, index=":")
    return frames if isinstance(frames, list) else [frames]


def elements_in(frames) -> List[str]:
    """Element symbols present in the frames, ordered by atomic number."""
    symbols = {s for atoms in frames for s in atoms.get_chemical_symbols()}
    return sorted(symbols, key=_core.atomic_number)


def reference_value(atoms, name):
    """Energy/forces/stress attached to a frame (calculator or info/arrays), or None."""
    calc = atoms.calc
    if calc is not None and name in getattr(calc, "results", {}):
        return calc.results[name]
    key = {"energy": "energy", "forces": "forces", "stress": "stress"}[name]
    return atoms.arrays.get(key) if name == "forces" else atoms.info.get(key)


@dataclass
class Structure:
    species: np.ndarray  # int64 [N] indices into the model's elements
    positions: np.ndarray  # [N, 3] Angstrom
    cell: np.ndarray  # [3, 3], rows are lattice vectors
    pbc: np.ndarray  # [3] bool
    edge_index: np.ndarray  # int64 [2, E]
    shifts: np.ndarray  # int64 [E, 3]
    energy: Optional[float] = None  # eV
    forces: Optional[np.ndarray] = None  # eV/A
    stress: Optional[np.ndarray] = None  # [3, 3] eV/A^3, ASE sign convention

    @property
    def num_atoms(self) -> int:
        return len(self.species)


def species_indices(symbols: Sequence[str], elements: Sequence[str]) -> np.ndarray:
    """Index of each symbol in `elements` (the core's lookup, with its wording)."""
    return _core.species_indices(list(symbols), list(elements))


def structure_from_atoms(atoms, elements: Sequence[str], cutoff: float) -> Structure:
    from ase.stress import voigt_6_to_full_3x3_stress

    if len(atoms) == 0:
        raise ValueError("structure has no atoms")
    positions = np.asarray(atoms.get_positions(), dtype=np.float64)
    cell = np.asarray(atoms.get_cell()[:], dtype=np.float64)
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    edge_index, shifts = _core.neighbor_list(positions, cell, pbc, cutoff)
    energy = reference_value(atoms, "energy")
    forces = reference_value(atoms, "forces")
    stress = reference_value(atoms, "stress") if pbc.all() else None
    if stress is not None:
        stress = np.asarray(stress, dtype=np.float64)
        stress = voigt_6_to_full_3x3_stress(stress) if stress.shape == (6,) else stress.reshape(3, 3)
    return Structure(
        species=species_indices(atoms.get_chemical_symbols(), elements),
        positions=positions,
        cell=cell,
        pbc=pbc,
        edge_index=edge_index,
        shifts=shifts,
        energy=None if energy is None else float(energy),
        forces=None if forces is None else np.asarray(forces, dtype=np.float64),
        stress=stress,
    )


@dataclass
class Batch:
    """Several structures as one disconnected graph. Each label comes with a mask of
    the frames (energy, stress) or atoms (forces) that carry it; unlabelled entries
    are zero and must be masked out by whoever uses them."""

    species: torch.Tensor
    positions: torch.Tensor
    cell: torch.Tensor  # [B, 3, 3]
    edge_index: torch.Tensor
    shifts: torch.Tensor  # [E, 3] float
    atom_structure: torch.Tensor  # [N] which structure each atom belongs to
    edge_structure: torch.Tensor  # [E]
    num_atoms: torch.Tensor  # [B]
    energy: torch.Tensor  # [B]
    energy_mask: torch.Tensor  # [B] bool
    forces: torch.Tensor  # [N, 3]
    force_mask: torch.Tensor  # [N] bool: atoms of structures with reference forces
    stress: torch.Tensor  # [B, 3, 3]
    stress_mask: torch.Tensor  # [B] bool

    @property
    def num_structures(self) -> int:
        return int(self.num_atoms.shape[0])

    def to(self, device) -> "Batch":
        return Batch(**{name: value.to(device) for name, value in vars(self).items()})


def collate(structures: Sequence[Structure], dtype=torch.float64) -> Batch:
    offsets = np.cumsum([0] + [s.num_atoms for s in structures[:-1]])
    edges = [s.edge_index + off for s, off in zip(structures, offsets)]
    num_edges = [s.edge_index.shape[1] for s in structures]
    num_atoms = torch.tensor([s.num_atoms for s in structures])
    tensor = lambda arrays, kind=dtype: torch.as_tensor(np.concatenate(arrays), dtype=kind)  # noqa: E731
    has_forces = torch.tensor([s.forces is not None for s in structures])
    return Batch(
        species=tensor([s.species for s in structures], torch.int64),
        positions=tensor([s.positions for s in structures]),
        cell=torch.as_tensor(np.stack([s.cell for s in structures]), dtype=dtype),
        edge_index=torch.as_tensor(np.concatenate(edges, axis=1), dtype=torch.int64),
        shifts=tensor([s.shifts for s in structures]),
        atom_structure=torch.repeat_interleave(num_atoms),
        edge_structure=torch.repeat_interleave(torch.tensor(num_edges)),
        num_atoms=num_atoms,
        energy=torch.tensor([s.energy if s.energy is not None else 0.0 for s in structures], dtype=dtype),
        energy_mask=torch.tensor([s.energy is not None for s in structures]),
        forces=tensor([s.forces if s.forces is not None else np.zeros((s.num_atoms, 3)) for s in structures]),
        force_mask=torch.repeat_interleave(has_forces, num_atoms),
        stress=torch.as_tensor(
            np.stack([s.stress if s.stress is not None else np.zeros((3, 3)) for s in structures]), dtype=dtype
        ),
        stress_mask=torch.tensor([s.stress is not None for s in structures]),
    )


def predict(model, batch: Batch, forces: bool = True, stress: bool = False, create_graph: bool = False) -> Dict:
    """Energy [B], forces [N, 3] and stress [B, 3, 3] (eV/A^3, ASE convention
    sigma = (1/V) dE/d(strain)) of a batch, by autograd through positions and strain."""
    positions = batch.positions.detach().requires_grad_(forces)
    strain = torch.zeros_like(batch.cell).requires_grad_(stress)
    positions_strained = positions + torch.einsum("nk,nkl->nl", positions, strain[batch.atom_structure])
    cell = batch.cell + torch.matmul(batch.cell, strain)
    first, second = batch.edge_index[0], batch.edge_index[1]
    edge_vectors = (
        positions_strained[second]
        - positions_strained[first]
        + torch.einsum("ek,ekl->el", batch.shifts, cell[batch.edge_structure])
    )
    atom_energies = model(batch.species, batch.edge_index, edge_vectors)
    energy = scatter_sum(atom_energies, batch.atom_structure, batch.num_structures)
    out = {"energy": energy, "atom_energies": atom_energies}
    wrt = [t for t, wanted in ((positions, forces), (strain, stress)) if wanted]
    if wrt:
        grads = torch.autograd.grad(energy.sum(), wrt, create_graph=create_graph)
        if forces:
            out["forces"] = -grads[0]
        if stress:
            volume = torch.linalg.det(batch.cell).abs()
            out["stress"] = grads[-1] / volume[:, None, None]
    return out
