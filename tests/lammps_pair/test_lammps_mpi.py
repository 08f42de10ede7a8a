"""pair_style equipot under mpirun with 1, 2 and 4 ranks (the wheel's `lmp` and the
mpich wheel's `mpirun`): the same energy, forces, virial, per-atom energies and
per-atom virials as the core's own serial evaluation, for models with 3 and 2
message-passing layers, including decompositions in which ranks own no atoms."""

import numpy as np
import pytest

from lammps_pair_helpers import (RESULT_COMMANDS, centroid9, cluster, mass_commands,
                                 parse_results, periodic_box, reference, run_lmp, triclinic_box, voigt6,
                                 write_data)

TOL = 1e-10


def slab_in_periodic_box():
    """Atoms fill x in [0, 10.8) of a 40 A periodic box: with `processors 4 1 1` two
    ranks own no atoms, one of them still has ghost atoms (periodic images)."""
    atoms = periodic_box(seed=8)
    cell = np.array(atoms.cell)
    cell[0, 0] = 40.0
    atoms.set_cell(cell)
    return atoms


CONFIGS = {
    # name: (structure builder, boundary, box for non-periodic, processors, model key)
    "periodic": (periodic_box, "p p p", None, "* * *", "f64"),
    "triclinic": (triclinic_box, "p p p", None, "* * *", "f64_2layers"),
    "cluster_empty_ranks": (lambda: cluster(center=(-12.0, 0.0, 0.0)), "f f f",
                            [(-30.0, 30.0), (-15.0, 15.0), (-15.0, 15.0)], "* 1 1", "f64"),
    "slab_empty_ranks": (slab_in_periodic_box, "p p p", None, "* 1 1", "f64"),
}


def lammps_input(data_file, model_path, boundary, processors, extra=""):
    return "\n".join([
        "units metal", "atom_style atomic", f"boundary {boundary}", f"processors {processors}",
        f"read_data {data_file}", *mass_commands(),
        "pair_style equipot", f"pair_coeff * * {model_path} Cu Ni", extra, RESULT_COMMANDS])


@pytest.fixture(scope="module")
def references(models):
    refs = {}
    for name, (build, boundary, box, processors, model) in CONFIGS.items():
        atoms = build()
        refs[name] = (atoms, reference(models[model], atoms))
    return refs


def compare(result, ref, what):
    checks = [("energy", result["energy"], ref["energy"]),
              ("forces", result["forces"], ref["forces"]),
              ("per-atom energies", result["energies"], ref["energies"]),
              ("virial", result["virial"], voigt6(ref["virial"])),
              ("stress/atom", result["atom_virial"], voigt6(ref["atom_virial"])),
              ("centroid/stress/atom", result["atom_virial_centroid"], centroid9(ref["atom_virial"]))]
    for name, got, want in checks:
        err = float(np.abs(np.asarray(got) - np.asarray(want)).max())
        assert err <= TOL, f"{what}: {name} deviates by {err:.3g}"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_ranks_1_2_4_agree_with_serial_reference(models, references, tmp_path, name):
    build, boundary, box, processors, model = CONFIGS[name]
    atoms, ref = references[name]
    if name == "cluster_empty_ranks":
        # the decomposition along x at 0 (2 ranks) and -15/0/15 (4 ranks) leaves ranks empty
        assert atoms.positions[:, 0].max() < 0.0
    if name == "slab_empty_ranks":
        assert atoms.positions[:, 0].max() < 20.0
    results = {}
    for nprocs in (1, 2, 4):
        run_dir = tmp_path / f"np{nprocs}"
        run_dir.mkdir()
        write_data(run_dir / "conf.data", atoms, box=box)
        proc = run_lmp(lammps_input("conf.data", models[model], boundary, processors), run_dir, nprocs=nprocs)
        assert proc.returncode == 0, proc.stdout[-4000:]
        assert f"with {nprocs} MPI tasks" in proc.stdout or nprocs == 1
        result = parse_results(run_dir, proc.stdout)
        assert result["natoms"] == len(atoms)
        assert list(result["ids"]) == list(range(1, len(atoms) + 1))
        compare(result, ref, f"{name}, {nprocs} ranks vs the core")
        results[nprocs] = result
    for nprocs in (2, 4):
        compare(results[nprocs], {
            "energy": results[1]["energy"], "forces": results[1]["forces"],
            "energies": results[1]["energies"],
            "virial": _unvoigt(results[1]["virial"]), "atom_virial": _uncentroid(results[1]["atom_virial_centroid"]),
        }, f"{name}, {nprocs} ranks vs 1 rank")


def _unvoigt(v):
    xx, yy, zz, xy, xz, yz = v
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def _uncentroid(c):
    c = np.asarray(c)
    out = np.empty(c.shape[:-1] + (3, 3))
    for k, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2), (1, 0), (2, 0), (2, 1)]):
        out[..., a, b] = c[..., k]
    return out


def test_user_comm_cutoff_too_small_is_an_error(models, tmp_path):
    atoms = periodic_box()
    write_data(tmp_path / "conf.data", atoms)
    proc = run_lmp(lammps_input("conf.data", models["f64"], "p p p", "* * *", extra="comm_modify cutoff 8.0"),
                   tmp_path, nprocs=2)
    assert proc.returncode != 0
    assert "comm_modify cutoff 8 is smaller than the ghost shell" in proc.stdout
    assert "3 message-passing layers x 4 A cutoff + 2 A skin = 14 A" in proc.stdout
    assert "Segmentation" not in proc.stdout and "signal" not in proc.stdout.lower()


def test_user_comm_cutoff_large_enough_is_kept(models, references, tmp_path):
    atoms, ref = references["periodic"]
    write_data(tmp_path / "conf.data", atoms)
    proc = run_lmp(lammps_input("conf.data", models["f64"], "p p p", "* * *", extra="comm_modify cutoff 16.0"),
                   tmp_path, nprocs=2)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "communication cutoff set to" not in proc.stdout
    compare(parse_results(tmp_path, proc.stdout), ref, "comm_modify cutoff 16, 2 ranks")


def test_md_trajectory_independent_of_ranks(models, tmp_path):
    """50 NVE steps with reneighboring: final positions on 1 and 2 ranks agree closely
    (different summation orders only)."""
    atoms = periodic_box(seed=9)
    final = {}
    for nprocs in (1, 2):
        run_dir = tmp_path / f"np{nprocs}"
        run_dir.mkdir()
        write_data(run_dir / "conf.data", atoms)
        text = "\n".join([
            "units metal", "atom_style atomic", "read_data conf.data", *mass_commands(),
            "pair_style equipot", f"pair_coeff * * {models['f64']} Cu Ni",
            "velocity all create 600 4928459 mom yes rot no dist gaussian loop geom",
            "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
            "timestep 0.002", "fix nve all nve", "thermo 10", "run 50",
            "write_dump all custom final.dump id x y z modify sort id format float %.17g"])
        proc = run_lmp(text, run_dir, nprocs=nprocs)
        assert proc.returncode == 0, proc.stdout[-3000:]
        final[nprocs] = np.loadtxt(run_dir / "final.dump", skiprows=9)
    assert np.abs(final[1] - final[2]).max() < 1e-8


def test_hybrid_overlay_with_null_type_on_1_and_4_ranks(models, tmp_path):
    """pair_style hybrid/overlay equipot + lj/cut with a NULL type: identical on 1 and 4
    ranks (the 1-rank result is checked against the core in test_accuracy.py)."""
    atoms = periodic_box(seed=6)
    rng = np.random.default_rng(0)
    symbols = np.array(atoms.get_chemical_symbols(), dtype=object)
    symbols[rng.choice(len(atoms), 12, replace=False)] = "Ar"
    atoms.set_chemical_symbols(list(symbols))
    results = {}
    for nprocs in (1, 4):
        run_dir = tmp_path / f"np{nprocs}"
        run_dir.mkdir()
        write_data(run_dir / "mix.data", atoms, extra_types=["Ar"])
        text = "\n".join(["units metal", "atom_style atomic", "read_data mix.data",
                          *mass_commands(["Cu", "Ni", "Ar"]),
                          "pair_style hybrid/overlay equipot lj/cut 5.0",
                          f"pair_coeff * * equipot {models['f64']} Cu Ni NULL",
                          "pair_coeff 3 3 lj/cut 0.0104 3.4", "pair_coeff 1*2 3 lj/cut 0.0 3.4",
                          RESULT_COMMANDS])
        proc = run_lmp(text, run_dir, nprocs=nprocs)
        assert proc.returncode == 0, proc.stdout[-3000:]
        results[nprocs] = parse_results(run_dir, proc.stdout)
    for key in ("energy", "forces", "energies", "virial", "atom_virial", "atom_virial_centroid"):
        err = float(np.abs(np.asarray(results[1][key]) - np.asarray(results[4][key])).max())
        assert err <= TOL, f"{key}: 4 ranks deviate from 1 rank by {err:.3g}"
