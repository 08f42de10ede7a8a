"""Shared helpers of the peer-parity tests (tests/peers/): structures, and the one
edge list that both equipot and the peer package are fed, so that a comparison
tests the model maths and nothing else.

These tests run in `.venv-peers` (torch CPU + the peer packages + equipot's Python
package, without its C++ core): nothing here may import equipot.data,
equipot.export or equipot._core."""

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.neighborlist import primitive_neighbor_list


def cuni_periodic(seed=0) -> Atoms:
    """2x2x2 cubic fcc Cu-Ni (32 atoms, a = 3.58 A), about 40% Ni at random,
    rattled by 0.1 A, periodic."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.58, cubic=True).repeat((2, 2, 2))
    atoms.symbols[rng.random(len(atoms)) < 0.4] = "Ni"
    atoms.rattle(0.1, seed=seed)
    return atoms


def cuni_cluster(seed=1) -> Atoms:
    """The same alloy cut out as a non-periodic cluster, centred in 5 A of vacuum."""
    atoms = cuni_periodic(seed)
    atoms.pbc = False
    atoms.center(vacuum=5.0)
    return atoms


def water_cluster(count=3, seed=2) -> Atoms:
    """`count` H2O molecules, randomly rotated, about 2.9 A apart; non-periodic."""
    rng = np.random.default_rng(seed)
    cluster = Atoms()
    for index in range(count):
        water = molecule("H2O")
        water.rotate(rng.uniform(0, 360), rng.normal(size=3))
        water.translate([2.9 * index, 0.4 * rng.normal(), 0.4 * rng.normal()])
        cluster += water
    cluster.rattle(0.05, seed=seed)
    cluster.center(vacuum=5.0)
    return cluster


def edges(atoms, cutoff):
    """(i, j, shifts, vectors) as numpy: every ordered pair within `cutoff`,
    i the centre, j the neighbour, shifts the integer cell offsets of j's image,
    vectors = r_j + shifts @ cell - r_i."""
    i, j, shifts, vectors = primitive_neighbor_list(
        "ijSD", atoms.pbc, np.asarray(atoms.cell[:]), atoms.positions, float(cutoff), self_interaction=False
    )
    return i.astype(np.int64), j.astype(np.int64), shifts.astype(np.int64), vectors


def _species(model, atoms):
    index = {symbol: k for k, symbol in enumerate(model.elements)}
    return torch.tensor([index[s] for s in atoms.get_chemical_symbols()], dtype=torch.int64)


def equipot_energy_forces(model, atoms):
    """Energy (float) and forces [N, 3] (numpy float64) of an equipot model on the
    edges of `edges(atoms, model.cutoff)`, by autograd through the positions."""
    dtype = next(model.parameters()).dtype
    i, j, shifts, _ = edges(atoms, model.cutoff)
    positions = torch.tensor(atoms.positions, dtype=dtype, requires_grad=True)
    cell = torch.tensor(np.asarray(atoms.cell[:]), dtype=dtype)
    i, j = torch.from_numpy(i), torch.from_numpy(j)
    vectors = positions[j] - positions[i] + torch.from_numpy(shifts).to(dtype) @ cell
    energy = model(_species(model, atoms), torch.stack([i, j]), vectors).sum()
    (gradient,) = torch.autograd.grad(energy, positions)
    return float(energy.detach()), (-gradient).detach().double().numpy()


def assert_close_relative(a, b, rtol):
    """max |a - b| <= rtol * max |b| (elementwise over arrays; scalars likewise)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    scale = max(float(np.max(np.abs(b))), 1e-300)
    error = float(np.max(np.abs(a - b)))
    assert error <= rtol * scale, (
        f"max abs error {error:.3e} > {rtol:.1e} x max |reference| {scale:.3e} (relative {error / scale:.3e})"
    )
