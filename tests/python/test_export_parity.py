"""An exported model run through the C++ core equals the Python model, for every
architecture (tiny random-weight models) on periodic, triclinic, non-periodic,
mixed-periodic and small-cell structures."""

import numpy as np
import pytest
import torch
from ase.stress import voigt_6_to_full_3x3_stress

from equipot import EquipotCalculator, _core
from equipot.export import export_model, read_metadata
from tests.conftest import architectures, make_model, make_schnet, structures_for_parity
from tests.python.reference import evaluate

STRUCTURES = structures_for_parity()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, schnet_cuni):
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for dtype in ("float64", "float32"):
        paths[dtype] = str(folder / f"schnet_{dtype}.pt")
        export_model(make_schnet(), paths[dtype], dtype)
    return paths


@pytest.fixture(scope="module", params=architectures())
def tiny_exported(request, tmp_path_factory):
    """(Python model, {dtype: exported file}) of one architecture."""
    model = make_model(request.param)
    folder = tmp_path_factory.mktemp(request.param.replace("+", "p"))
    paths = {dtype: str(folder / f"{dtype}.pt") for dtype in ("float64", "float32")}
    for dtype, path in paths.items():
        export_model(model, path, dtype)
    return model, paths


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_float64_export_matches_python_model(tiny_exported, name):
    model, paths = tiny_exported
    atoms = STRUCTURES[name].copy()
    periodic = bool(atoms.pbc.all())
    e_ref, f_ref, s_ref, ae_ref = evaluate(model, atoms, stress=periodic)
    atoms.calc = EquipotCalculator(paths["float64"])
    assert abs(atoms.get_potential_energy() - e_ref) <= 1e-10 * abs(e_ref)
    np.testing.assert_allclose(atoms.get_forces(), f_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(atoms.get_potential_energies(), ae_ref, rtol=0, atol=1e-10)
    if periodic:
        np.testing.assert_allclose(voigt_6_to_full_3x3_stress(atoms.get_stress()), s_ref, rtol=0, atol=1e-12)
        per_atom = atoms.get_stresses().sum(axis=0)  # per-atom virials add up to the total
        np.testing.assert_allclose(per_atom, atoms.get_stress(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_float32_export_matches_python_model(tiny_exported, name):
    model, paths = tiny_exported
    atoms = STRUCTURES[name].copy()
    e_ref, f_ref, _, _ = evaluate(model, atoms)
    atoms.calc = EquipotCalculator(paths["float32"])
    assert abs(atoms.get_potential_energy() - e_ref) <= 1e-5 * abs(e_ref)
    # Relative to the largest force, but at least 0.1 eV/A: in a symmetric cell the
    # net forces are tiny differences of much larger edge contributions, and float32
    # resolves those contributions, not the difference, to 1e-5.
    scale = max(np.abs(f_ref).max(), 0.1)
    np.testing.assert_allclose(atoms.get_forces(), f_ref, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("architecture", architectures())
def test_compiled_package_matches_torchscript(model_files, architecture):
    """Format 2 (AOTInductor) of every architecture gives the energies, forces, stress
    and per-atom values of format 1 through the core, to 1e-10, on every structure."""
    compiled = EquipotCalculator(model_files(architecture, "aoti"))
    frozen = EquipotCalculator(model_files(architecture))
    assert compiled.model.format_version == 2 and frozen.model.format_version == 1
    for name, atoms in STRUCTURES.items():
        results = []
        for calculator in (compiled, frozen):
            atoms = atoms.copy()
            atoms.calc = calculator
            results.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_potential_energies(),
                            atoms.get_stress() if atoms.pbc.all() else np.zeros(6)))
        (e2, f2, ae2, s2), (e1, f1, ae1, s1) = results
        assert abs(e2 - e1) <= 1e-10 * abs(e1), name
        np.testing.assert_allclose(f2, f1, rtol=0, atol=1e-10, err_msg=name)
        np.testing.assert_allclose(ae2, ae1, rtol=0, atol=1e-10, err_msg=name)
        np.testing.assert_allclose(s2, s1, rtol=0, atol=1e-12, err_msg=name)


def test_float32_compiled_package_matches_torchscript(model_files):
    compiled = _core.Model(model_files("schnet", "aoti", "float32"))
    frozen = _core.Model(model_files("schnet", "torchscript", "float32"))
    assert compiled.dtype == "float32"
    for name, atoms in STRUCTURES.items():
        args = (atoms.positions, atoms.cell[:], atoms.pbc, compiled.species(atoms.get_chemical_symbols()))
        a, b = compiled.evaluate_structure(*args), frozen.evaluate_structure(*args)
        assert abs(a["energy"] - b["energy"]) <= 1e-5 * abs(b["energy"]), name
        scale = max(np.abs(b["forces"]).max(), 0.1)
        np.testing.assert_allclose(a["forces"], b["forces"], rtol=0, atol=1e-5 * scale, err_msg=name)


def test_metadata_of_every_architecture(tiny_exported):
    model, paths = tiny_exported
    core = _core.Model(paths["float64"])
    assert core.architecture == model.architecture
    assert core.num_layers == model.num_layers and core.cutoff == model.cutoff
    import json

    assert json.loads(read_metadata(paths["float32"])["hyperparameters"]) == json.loads(
        json.dumps(model.hyperparameters()))


def test_export_leaves_the_callers_model_untouched_and_writes_the_cores_keys(tmp_path):
    from equipot.export import metadata_of

    model = make_schnet()
    export_model(model, str(tmp_path / "m.pt"), "float32")
    assert next(model.parameters()).dtype == torch.float64
    assert all(p.requires_grad for p in model.parameters())
    # the exporter's key list and format version and the core's, owned on each side
    from equipot.export import FORMAT_VERSION, METADATA_KEYS

    assert tuple(metadata_of(model, "float64")) == METADATA_KEYS == tuple(_core.metadata_keys())
    assert FORMAT_VERSION == _core.FORMAT_VERSION


def test_metadata_travels_in_the_file(exported):
    model = _core.Model(exported["float64"])
    assert model.elements == ["Cu", "Ni"]
    assert model.cutoff == 4.0
    assert model.num_layers == 3
    assert model.dtype == "float64"
    assert model.format_version == 1
    assert model.architecture == "schnet"
    metadata = read_metadata(exported["float32"])
    assert metadata["dtype"] == "float32" and metadata["units"] == "eV/Angstrom"
    assert '"num_interactions": 3' in metadata["hyperparameters"]


def test_ghost_atoms_carry_messages_but_no_energy(exported):
    """evaluate_graph with n_owned: energy of the owned atoms only, forces on all."""
    model = _core.Model(exported["float64"])
    atoms = STRUCTURES["non_periodic"]
    species = model.species(atoms.get_chemical_symbols())
    full = model.evaluate_structure(atoms.positions, np.zeros((3, 3)), [False] * 3, species, atom_energies=True)
    edge_index, shifts = _core.neighbor_list(atoms.positions, np.zeros((3, 3)), [False] * 3, model.cutoff)
    vectors = atoms.positions[edge_index[1]] - atoms.positions[edge_index[0]]
    owned = 10
    partial = model.evaluate_graph(species, edge_index, vectors, n_owned=owned, atom_energies=True)
    assert abs(partial["energy"] - full["atom_energies"][:owned].sum()) < 1e-10
    np.testing.assert_allclose(partial["atom_energies"][:owned], full["atom_energies"][:owned], atol=1e-12)
    assert np.all(partial["atom_energies"][owned:] == 0)
    # forces are the gradient of the owned atoms' energy: check one by finite differences
    h = 1e-5
    for atom in (0, owned + 3):
        shifted = []
        for sign in (1, -1):
            positions = atoms.positions.copy()
            positions[atom, 0] += sign * h
            v = positions[edge_index[1]] - positions[edge_index[0]]
            shifted.append(model.evaluate_graph(species, edge_index, v, n_owned=owned)["energy"])
        assert abs(-(shifted[0] - shifted[1]) / (2 * h) - partial["forces"][atom, 0]) < 1e-7


@pytest.mark.parametrize("name", ["single atom", "pair beyond the cutoff", "collinear chain"])
def test_atoms_without_edges_and_collinear_triplets(tiny_exported, name):
    """No edges at all, an atom without neighbours, and exactly collinear triplets
    (angles of pi, where an atan2-based angle has a NaN gradient): finite energies and
    forces through the core, equal to the Python model's."""
    from ase import Atoms

    positions = {"single atom": [[0, 0, 0]], "pair beyond the cutoff": [[0, 0, 0], [20, 0, 0]],
                 "collinear chain": [[0, 0, 0], [2.5, 0, 0], [5.0, 0, 0], [7.5, 0, 0]]}[name]
    atoms = Atoms(["Cu", "Ni", "Cu", "Ni"][: len(positions)], positions=positions)
    model, paths = tiny_exported
    e_ref, f_ref, _, _ = evaluate(model, atoms)
    atoms.calc = EquipotCalculator(paths["float64"])
    assert np.isfinite(atoms.get_potential_energy()) and np.isfinite(atoms.get_forces()).all()
    assert abs(atoms.get_potential_energy() - e_ref) <= 1e-10 * abs(e_ref)
    np.testing.assert_allclose(atoms.get_forces(), f_ref, rtol=0, atol=1e-10)
