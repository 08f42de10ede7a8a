"""Shared fixtures: small random-weight models and the structures the tests use."""

import os

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from equipot.models import ARCHITECTURES, SchNet, build_model

# tests/peers compare with the reference implementations, which live in their own
# environment (make test-peers); the default suite never collects them.
collect_ignore = [] if os.environ.get("EQUIPOT_PEER_TESTS") == "1" else ["peers"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "data")


def make_schnet(elements=("Cu", "Ni"), cutoff=4.0, num_interactions=3, seed=0, dtype=torch.float64):
    """A small SchNet with random weights and non-trivial reference energies, so
    that every part of the forward pass matters in comparisons."""
    torch.manual_seed(seed)
    model = SchNet(list(elements), cutoff=cutoff, num_features=32, num_filters=32,
                   num_interactions=num_interactions, num_basis=16)
    model.reference_energies.copy_(torch.linspace(-3.0, -1.0, len(elements)))
    model.energy_scale.fill_(0.7)
    return model.to(dtype).eval()


# Tiny hyperparameters of every architecture for the generic suite (tests/python/
# test_models_generic.py) and the plugin tests: small enough that six architectures
# times every per-model test stay fast, with at least 2 message-passing layers.
TINY_HYPERPARAMETERS = {
    "schnet": dict(num_features=16, num_filters=16, num_interactions=2, num_basis=8),
    "painn": dict(num_features=16, num_interactions=2, num_basis=8),
    "dimenet++": dict(hidden_channels=16, out_emb_channels=16, int_emb_size=8, basis_emb_size=4,
                      num_blocks=2, num_spherical=3, num_radial=4),
    "tensornet": dict(hidden_channels=16, num_interactions=2, num_rbf=8),
    "nequip": dict(num_layers=2, l_max=2, num_features=4, radial_mlp_width=8, num_bessels=6, avg_num_neighbors=12.0),
    # the gate activation (exactly equivariant) and O(3) (real SO(2) weights): the suite
    # checks reflections and 1e-12 exactness; the S2 variant is tested in test_nn_s2_grid.py
    # (4 channels: the training test's 12 epochs take ~25% less than with 8, same accuracy)
    "equiformer_v2": dict(num_blocks=2, l_max=2, m_max=1, sphere_channels=4, attn_hidden_channels=4, num_heads=2,
                          attn_alpha_channels=4, attn_value_channels=4, ffn_hidden_channels=8, edge_channels=8,
                          num_distance_basis=8, activation="gate", equivariance_group="O(3)", avg_degree=12.0),
}


def make_model(architecture, elements=("Cu", "Ni"), cutoff=4.0, seed=0, dtype=torch.float64, **overrides):
    """A tiny model of any architecture with random weights. Every parameter is
    perturbed, because several architectures initialise layers to zero (DimeNet++'s
    output layers, for instance), which would make tests of their outputs vacuous."""
    torch.manual_seed(seed)
    hyperparameters = {**TINY_HYPERPARAMETERS[architecture], **overrides}
    model = build_model(architecture, list(elements), dtype=dtype, cutoff=cutoff, **hyperparameters)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    model.reference_energies.copy_(torch.linspace(-3.0, -1.0, len(elements)))
    model.energy_scale.fill_(0.7)
    return model.to(dtype).eval()


def architectures():
    """pytest parameters: every registered architecture (a new one without tiny
    hyperparameters above fails loudly rather than going untested)."""
    return sorted(ARCHITECTURES)


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    """model_files(architecture, file_format="torchscript", dtype="float64") -> the path
    of make_model(architecture) (Cu Ni, cutoff 4 A) exported in that format. Exported
    once per session: compiling a package (format 2) takes 15-60 s, and the Python,
    LAMMPS and OpenMM tests share them."""
    folder = tmp_path_factory.mktemp("model_files")
    cache = {}

    def path_of(architecture: str, file_format: str = "torchscript", dtype: str = "float64") -> str:
        key = (architecture, file_format, dtype)
        if key not in cache:
            from equipot.export import export_model

            suffix = ".pt2" if file_format == "aoti" else ".pt"
            path = str(folder / f"{architecture.replace('+', 'p')}_{dtype}{suffix}")
            export_model(make_model(architecture), path, dtype, file_format=file_format)
            cache[key] = path
        return cache[key]

    return path_of


@pytest.fixture(scope="session")
def schnet_cuni():
    return make_schnet()


@pytest.fixture(scope="session")
def schnet_ho():
    return make_schnet(("H", "O"), cutoff=3.5, num_interactions=2, seed=1)


def random_alloy(atoms: Atoms, seed: int, rattle: float = 0.1, ni_fraction: float = 0.4) -> Atoms:
    """Turns `atoms` (in place) into a random Cu-Ni alloy with Gaussian displacements
    of `rattle` A; the one recipe behind every Cu-Ni test structure."""
    rng = np.random.default_rng(seed)
    atoms.set_chemical_symbols(list(np.where(rng.random(len(atoms)) < ni_fraction, "Ni", "Cu")))
    atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
    return atoms


def cuni_alloy(repeat=(2, 2, 2), seed=0, rattle=0.1, strain=None, a=3.58) -> Atoms:
    """fcc Cu-Ni alloy (cubic cells); `strain` (3x3) deforms the cell (e.g. into a
    triclinic one)."""
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(repeat)
    if strain is not None:
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + np.asarray(strain)), scale_atoms=True)
    return random_alloy(atoms, seed, rattle)


TRICLINIC_STRAIN = [[0.02, 0.15, -0.05], [0.0, -0.03, 0.12], [0.0, 0.0, 0.04]]


def structures_for_parity():
    """Periodic, triclinic, non-periodic, mixed-periodic and small-cell structures."""
    cluster = cuni_alloy(repeat=(2, 2, 2), seed=2)
    cluster.pbc = False
    cluster.center(vacuum=5.0)
    slab = cuni_alloy(repeat=(2, 2, 2), seed=3)
    slab.pbc = (True, True, False)
    small = bulk("Cu", "fcc", a=3.6)  # one-atom primitive cell, far smaller than 2 cutoffs
    small.rattle(0.05, seed=4)
    small_triclinic = bulk("Ni", "fcc", a=3.5).repeat((1, 2, 1))
    small_triclinic.symbols[0] = "Cu"
    small_triclinic.rattle(0.08, seed=5)
    # B2 cell of 1.9 A: within the 4 A cutoff an atom meets images up to three cells
    # away, so this exercises the neighbor list's multi-image reach.
    tiny = Atoms("CuNi", scaled_positions=[[0, 0, 0], [0.5, 0.52, 0.47]], cell=np.eye(3) * 1.9, pbc=True)
    return {
        "tiny_cell": tiny,
        "periodic": cuni_alloy(seed=1),
        "triclinic": cuni_alloy(seed=6, strain=TRICLINIC_STRAIN),
        "non_periodic": cluster,
        "slab": slab,
        "small_cell": small,
        "small_triclinic": small_triclinic,
    }


def water_dimer() -> Atoms:
    water = molecule("H2O")
    other = water.copy()
    other.rotate(70, "z")
    other.translate([2.9, 0.2, 0.1])
    return water + other


@pytest.fixture(scope="session")
def fitted_cuni_model(tmp_path_factory):
    """A small SchNet (2 layers, 4 A) trained for a few epochs on the bundled Cu-Ni
    EMT data by equipot's own training pipeline and exported in float64. Unlike a
    random-weight model it has a stable fcc lattice and EMT-sized forces, which MD
    tests need. About 10 s on 2 cores."""
    from equipot.export import export_model, load_checkpoint, model_from_checkpoint
    from equipot.training import train

    out = tmp_path_factory.mktemp("fitted")
    config = {
        "model": {"architecture": "schnet", "cutoff": 4.0, "num_features": 32, "num_filters": 32,
                  "num_interactions": 2, "num_basis": 16},
        "data": {"train": os.path.join(DATA, "cuni_emt", "train.extxyz"),
                 "val": os.path.join(DATA, "cuni_emt", "val.extxyz")},
        "training": {"epochs": 6, "batch_size": 8, "learning_rate": 0.003, "stress_weight": 10.0},
        "out": str(out),
    }
    train(config, progress=False)
    path = str(out / "model.pt")
    export_model(model_from_checkpoint(load_checkpoint(str(out / "checkpoint.pt"))), path, "float64")
    return path
