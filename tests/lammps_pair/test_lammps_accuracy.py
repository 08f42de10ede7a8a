"""pair_style equipot in one process (the wheel's Python module) against the core's own
evaluation (EquipotCalculator): energy, forces, per-atom energies, global and per-atom
virials, on a periodic orthogonal box, a triclinic box and non-periodic clusters;
plus real units, a float32 model and hybrid/overlay with NULL types."""

import numpy as np
import pytest

from lammps_pair_helpers import (EV_TO_KCAL_MOL, NKTV2P, centroid9, cluster, mass_commands, periodic_box,
                                 reference, run_inprocess, triclinic_box, voigt6, write_data)

TOL = 1e-10  # float64 model: absolute, in eV, eV/A


def assert_matches(result, ref, tol=TOL, factor=1.0, rel=False):
    def close(a, b, what):
        a, b = np.asarray(a), np.asarray(b) * factor
        scale = max(1.0, float(np.abs(b).max())) if rel else 1.0
        err = float(np.abs(a - b).max())
        assert err <= tol * scale, f"{what}: max deviation {err:.3g} > {tol * scale:.3g}"

    close(result["energy"], ref["energy"], "energy")
    close(result["forces"], ref["forces"], "forces")
    close(result["energies"], ref["energies"], "per-atom energies")
    close(result["virial"], voigt6(ref["virial"]), "virial")
    close(result["atom_virial"], voigt6(ref["atom_virial"]), "per-atom virial (stress/atom)")
    close(result["atom_virial_centroid"], centroid9(ref["atom_virial"]), "per-atom virial (centroid/stress/atom)")
    # pe is the sum of pe/atom
    assert abs(result["energies"].sum() - result["energy"]) <= tol * max(1.0, abs(result["energy"]) if rel else 1.0)


def test_nktv2p_constants(models, tmp_path):
    for units in ("metal", "real"):
        data = tmp_path / "box.data"
        write_data(data, periodic_box((2, 2, 2)))
        result = run_inprocess(data, models["f64"], units=units)
        assert result["nktv2p"] == NKTV2P[units]


def test_periodic_orthogonal(models, tmp_path):
    atoms = periodic_box()
    write_data(tmp_path / "box.data", atoms)
    result = run_inprocess(tmp_path / "box.data", models["f64"])
    assert list(result["ids"]) == list(range(1, len(atoms) + 1))
    assert_matches(result, reference(models["f64"], atoms))


def test_periodic_triclinic(models, tmp_path):
    atoms = triclinic_box()
    write_data(tmp_path / "tri.data", atoms)
    result = run_inprocess(tmp_path / "tri.data", models["f64"])
    assert_matches(result, reference(models["f64"], atoms))


def test_small_periodic_box_sees_many_images(models, tmp_path):
    """A 2x2x2 cell (7.2 A) is narrower than twice the cutoff: atoms meet several
    images of the same neighbor, as in the core's neighbor list."""
    atoms = periodic_box((2, 2, 2), seed=5)
    write_data(tmp_path / "small.data", atoms)
    result = run_inprocess(tmp_path / "small.data", models["f64"])
    assert_matches(result, reference(models["f64"], atoms))


@pytest.mark.parametrize("boundary", ["f f f", "s s s"])
def test_nonperiodic_cluster(models, tmp_path, boundary):
    atoms = cluster()
    write_data(tmp_path / "cluster.data", atoms, box=[(-15.0, 15.0)] * 3)
    result = run_inprocess(tmp_path / "cluster.data", models["f64"], boundary=boundary)
    assert_matches(result, reference(models["f64"], atoms))


def test_mixed_boundaries(models, tmp_path):
    """Periodic in x and y, free in z (a slab)."""
    from ase.build import fcc111

    from tests.conftest import random_alloy

    atoms = random_alloy(fcc111("Cu", size=(3, 4, 4), a=3.6, vacuum=0.0, orthogonal=True), seed=7)
    atoms.wrap()
    atoms.positions[:, 2] += 5.0
    cell = np.array(atoms.cell)
    cell[2, 2] = 30.0
    atoms.set_cell(cell)
    atoms.set_pbc([True, True, False])
    write_data(tmp_path / "slab.data", atoms)
    result = run_inprocess(tmp_path / "slab.data", models["f64"], boundary="p p f")
    # reference: the core with pbc (T, T, F)
    from equipot import EquipotCalculator

    calc = EquipotCalculator(models["f64"])
    r = calc.model.evaluate_structure(atoms.positions, np.array(atoms.cell), [True, True, False],
                                      calc.model.species(atoms.get_chemical_symbols()),
                                      atom_energies=True, virial=True, atom_virial=True)
    ref = dict(energy=r["energy"], forces=r["forces"], energies=r["atom_energies"], virial=r["virial"],
               atom_virial=r["atom_virial"])
    assert_matches(result, ref)


def test_real_units(models, tmp_path):
    """units real: kcal/mol instead of eV (same Angstrom), with LAMMPS's own factor."""
    atoms = triclinic_box()
    write_data(tmp_path / "tri.data", atoms)
    result = run_inprocess(tmp_path / "tri.data", models["f64"], units="real")
    assert_matches(result, reference(models["f64"], atoms), factor=EV_TO_KCAL_MOL, rel=True, tol=1e-12)


def test_float32_model(models, tmp_path):
    """A float32 export of the same weights: LAMMPS stays double, the model runs in
    float32; agreement with the float64 reference to 1e-5 relative."""
    atoms = periodic_box(seed=4)
    write_data(tmp_path / "box.data", atoms)
    result = run_inprocess(tmp_path / "box.data", models["f32"])
    ref64 = reference(models["f64"], atoms)
    scale_f = np.abs(ref64["forces"]).max()
    assert abs(result["energy"] - ref64["energy"]) <= 1e-5 * abs(ref64["energy"])
    assert np.abs(result["forces"] - ref64["forces"]).max() <= 1e-5 * scale_f
    assert np.abs(result["virial"] - voigt6(ref64["virial"])).max() <= 1e-5 * np.abs(ref64["virial"]).max()
    # and it is what the core computes with the float32 model (up to float32 summation order)
    assert_matches(result, reference(models["f32"], atoms), tol=1e-6, rel=True)


def test_hybrid_overlay_with_null(models, tmp_path):
    """Type 3 (Ar) is NULL for equipot and handled by lj/cut alone: the equipot part
    equals the model on the Cu/Ni atoms only, and lj/cut adds its own energy."""
    atoms = periodic_box(seed=6)
    rng = np.random.default_rng(0)
    symbols = np.array(atoms.get_chemical_symbols(), dtype=object)
    argon = rng.choice(len(atoms), 12, replace=False)
    symbols[argon] = "Ar"
    atoms.set_chemical_symbols(list(symbols))
    write_data(tmp_path / "mix.data", atoms, elements=["Cu", "Ni"], extra_types=["Ar"])
    pair = ["pair_style hybrid/overlay equipot lj/cut 5.0",
            f"pair_coeff * * equipot {models['f64']} Cu Ni NULL",
            "pair_coeff 3 3 lj/cut 0.0104 3.4",
            "pair_coeff 1*2 3 lj/cut 0.0 3.4"]
    result = run_inprocess(tmp_path / "mix.data", models["f64"], pair=pair,
                           masses=mass_commands(["Cu", "Ni", "Ar"]))
    metal = np.array([s != "Ar" for s in atoms.get_chemical_symbols()])
    ref = reference(models["f64"], atoms[metal])
    # lj/cut (unshifted) energy of the argon atoms alone
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms[~metal], 5.0)
    e_lj = 0.5 * np.sum(4 * 0.0104 * ((3.4 / d) ** 12 - (3.4 / d) ** 6))
    assert abs(result["energy"] - (ref["energy"] + e_lj)) <= 1e-9
    assert np.abs(result["energies"][metal] - ref["energies"]).max() <= 1e-10
    assert np.abs(result["forces"][metal] - ref["forces"]).max() <= 1e-9


def test_repeated_runs_and_instances(models, tmp_path):
    """Two LAMMPS instances in one process, each loading the plugin; a second run in
    the same instance gives the same energy."""
    atoms = periodic_box((2, 2, 2))
    write_data(tmp_path / "b.data", atoms)
    first = run_inprocess(tmp_path / "b.data", models["f64"], extra=["run 0"])
    second = run_inprocess(tmp_path / "b.data", models["f64"])
    assert first["energy"] == second["energy"]
