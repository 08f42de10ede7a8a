#!/usr/bin/env python
"""Generate the small bundled training data sets of equipot.

Run from anywhere:

    python data/generate_data.py            # writes data/cuni_emt/ and data/water_xtb/
    python data/generate_data.py --only cuni_emt
    python data/generate_data.py --check    # only read back and sanity-check

Data sets
---------
cuni_emt/   Cu-Ni fcc alloy, ASE EMT: energy, forces, stress (periodic).
water_xtb/  (H2O)_n clusters, n = 2..6, GFN2-xTB via tblite: energy, forces
            (non-periodic).

Everything is seeded: every trajectory draws from its own
``numpy.random.default_rng([SEED, dataset, split, trajectory])`` stream, so a
rerun reproduces the same files (up to floating-point differences between
machines / library builds).  Keep this single-threaded (OMP_NUM_THREADS=1) so
that tblite results do not depend on the thread count.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from ase import Atoms, units  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402
from ase.io import read, write  # noqa: E402
from ase.md.langevin import Langevin  # noqa: E402
from ase.md.velocitydistribution import Stationary, ZeroRotation  # noqa: E402
from ase.optimize import FIRE  # noqa: E402

SEED = 20240917
DATA_DIR = Path(__file__).resolve().parent

# ----------------------------------------------------------------------------
# Cu-Ni / EMT settings
# ----------------------------------------------------------------------------
# EMT equilibrium fcc lattice constants (from an energy scan of ASE's EMT):
# Cu 3.590 A, Ni 3.485 A.  The alloy lattice constant follows Vegard's law.
A_CU_EMT = 3.590
A_NI_EMT = 3.485
CUNI_TEMPERATURES = (300.0, 600.0, 1000.0, 1400.0)  # K
CUNI_DT_FS = 3.0
CUNI_FRICTION_PER_FS = 0.02
CUNI_EQUIL_STEPS = 150  # 450 fs thermalisation before the first snapshot
CUNI_STRIDE = 20  # snapshot every 20 steps = 60 fs
CUNI_SNAPS_PER_TRAJ = 8
# (n_cubic_trajectories, n_noncubic_trajectories) per split
CUNI_SPLITS = {"train": (45, 5), "val": (9, 1)}
# Shifts the (temperature, strain) assignment so that the 10 val trajectories
# include the iso -3% and general triclinic strains.
CUNI_STRAIN_OFFSET = {"train": 0, "val": 4}
# Strain kinds applied to the cell (cell -> cell @ (1 + eps), atoms scaled).
STRAIN_KINDS = (
    "none",
    "iso_+1.5%",
    "iso_-1.5%",
    "iso_+3%",
    "iso_-3%",
    "uniaxial",
    "shear_xy",
    "shear_yz",
    "shear_xz",
    "random_triclinic",
    "iso+shear",
)

# ----------------------------------------------------------------------------
# water / GFN2-xTB settings
# ----------------------------------------------------------------------------
WATER_N_MOLECULES = (2, 3, 4, 5, 6)
WATER_T_RANGE = (300.0, 500.0)  # K, drawn uniformly per trajectory
WATER_DT_FS = 0.5
WATER_FRICTION_PER_FS = 0.01
WATER_PRERELAX_STEPS = 30  # short FIRE to remove bad contacts of the random build
WATER_EQUIL_STEPS = 200  # 100 fs
WATER_STRIDE = 40  # snapshot every 40 steps = 20 fs
WATER_SNAPS_PER_TRAJ = 8
WATER_SPLITS = {"train": 25, "val": 5}  # trajectories
# Experimental gas-phase water geometry.
R_OH = 0.9572
ANGLE_HOH = np.deg2rad(104.52)

SPLIT_ID = {"train": 0, "val": 1}


def traj_rng(dataset_id: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([SEED, dataset_id, SPLIT_ID[split], index])


def thermalize(atoms: Atoms, temperature_K: float, rng: np.random.Generator) -> None:
    """Maxwell-Boltzmann momenta (``thermalize_momenta`` in ASE >= 3.29,
    ``MaxwellBoltzmannDistribution`` before; both draw the same numbers)."""
    try:
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:  # older ASE
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)
    else:
        thermalize_momenta(atoms, temperature_K, rng=rng)


def labelled_copy(atoms: Atoms, calc, properties, info: dict) -> Atoms:
    """A clean copy of ``atoms`` (no momenta etc.) with a fresh single-point
    evaluation of ``calc`` attached as a SinglePointCalculator."""
    clean = Atoms(
        numbers=atoms.get_atomic_numbers(),
        positions=atoms.get_positions(),
        cell=atoms.get_cell(),
        pbc=atoms.get_pbc(),
    )
    clean.calc = calc
    results = {}
    if "energy" in properties:
        results["energy"] = float(clean.get_potential_energy())
    if "forces" in properties:
        results["forces"] = np.array(clean.get_forces())
    if "stress" in properties:
        results["stress"] = np.array(clean.get_stress(voigt=True))
    for key, val in results.items():
        if not np.all(np.isfinite(val)):
            raise FloatingPointError(f"non-finite {key} in labelled structure")
    clean.calc = SinglePointCalculator(clean, **results)
    clean.info.update(info)
    return clean


# ----------------------------------------------------------------------------
# Cu-Ni EMT
# ----------------------------------------------------------------------------
def strain_tensor(kind: str, rng: np.random.Generator) -> np.ndarray:
    eps = np.zeros((3, 3))
    sign = rng.choice([-1.0, 1.0])
    if kind == "none":
        pass
    elif kind.startswith("iso_") and kind.endswith("%"):
        eps += np.eye(3) * float(kind[4:-1]) / 100.0
    elif kind == "uniaxial":
        ax = rng.integers(3)
        eps[ax, ax] = sign * 0.03
    elif kind.startswith("shear_"):
        i, j = "xyz".index(kind[-2]), "xyz".index(kind[-1])
        eps[i, j] = eps[j, i] = sign * 0.03
    elif kind == "random_triclinic":
        m = rng.uniform(-0.03, 0.03, size=(3, 3))
        eps = 0.5 * (m + m.T)
    elif kind == "iso+shear":
        eps += np.eye(3) * rng.uniform(-0.03, 0.03)
        i, j = [(0, 1), (1, 2), (0, 2)][rng.integers(3)]
        eps[i, j] = eps[j, i] = sign * 0.03
    else:
        raise ValueError(kind)
    return eps


def build_cuni(cell_kind: str, x_ni: float, rng: np.random.Generator) -> Atoms:
    a = (1.0 - x_ni) * A_CU_EMT + x_ni * A_NI_EMT
    if cell_kind == "conv222":
        atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat((2, 2, 2))  # 32 atoms
    elif cell_kind == "prim333":
        atoms = bulk("Cu", "fcc", a=a).repeat((3, 3, 3))  # 27 atoms, rhombohedral
    elif cell_kind == "conv223":
        atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat((2, 2, 3))  # 48 atoms
    else:
        raise ValueError(cell_kind)
    n = len(atoms)
    n_ni = int(round(x_ni * n))
    symbols = np.array(["Cu"] * n)
    symbols[rng.permutation(n)[:n_ni]] = "Ni"
    atoms.set_chemical_symbols(list(symbols))
    return atoms


def cuni_split(split: str) -> list[Atoms]:
    n_cubic, n_noncubic = CUNI_SPLITS[split]
    noncubic_kinds = ("prim333", "prim333", "conv223")
    jobs = [("conv222", i) for i in range(n_cubic)]
    jobs += [(noncubic_kinds[k % len(noncubic_kinds)], k) for k in range(n_noncubic)]
    frames: list[Atoms] = []
    t0 = time.time()
    for itraj, (cell_kind, k) in enumerate(jobs):
        rng = traj_rng(0, split, itraj)
        temperature = CUNI_TEMPERATURES[k % len(CUNI_TEMPERATURES)]
        strain_kind = STRAIN_KINDS[
            (k // len(CUNI_TEMPERATURES) + k + CUNI_STRAIN_OFFSET[split]) % len(STRAIN_KINDS)
        ]
        x_ni = rng.uniform(0.2, 0.8)
        atoms = build_cuni(cell_kind, x_ni, rng)
        eps = strain_tensor(strain_kind, rng)
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        atoms.calc = EMT()
        thermalize(atoms, temperature, rng)
        Stationary(atoms)
        dyn = Langevin(
            atoms,
            timestep=CUNI_DT_FS * units.fs,
            temperature_K=temperature,
            friction=CUNI_FRICTION_PER_FS / units.fs,
            rng=rng,
        )
        dyn.run(CUNI_EQUIL_STEPS)
        x_actual = atoms.get_chemical_symbols().count("Ni") / len(atoms)
        for isnap in range(CUNI_SNAPS_PER_TRAJ):
            if isnap:
                dyn.run(CUNI_STRIDE)
            info = {
                "config_type": f"md_{cell_kind}_{strain_kind}",
                "traj_id": f"cuni_{split}_{itraj:03d}",
                "temperature_K": temperature,
                "ni_fraction": round(x_actual, 6),
                "strain_kind": strain_kind,
            }
            frames.append(labelled_copy(atoms, EMT(), ("energy", "forces", "stress"), info))
        print(
            f"  cuni_emt/{split}: traj {itraj + 1:2d}/{len(jobs)} {cell_kind:8s} "
            f"N={len(atoms):2d} xNi={x_actual:.2f} T={temperature:6.0f} K "
            f"strain={strain_kind:16s} T_inst={atoms.get_temperature():6.0f} K "
            f"({time.time() - t0:5.1f} s)",
            flush=True,
        )
    return frames


# ----------------------------------------------------------------------------
# water clusters, GFN2-xTB
# ----------------------------------------------------------------------------
def water_template() -> np.ndarray:
    """O, H, H positions with O at the origin, molecule in the xy plane."""
    h = 0.5 * ANGLE_HOH
    return np.array(
        [
            [0.0, 0.0, 0.0],
            [R_OH * np.sin(h), R_OH * np.cos(h), 0.0],
            [-R_OH * np.sin(h), R_OH * np.cos(h), 0.0],
        ]
    )


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation matrix (random unit quaternion)."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def build_water_cluster(n_mol: int, rng: np.random.Generator) -> Atoms:
    """Grow a cluster: each new O sits 2.8-3.2 A from a randomly chosen
    existing O, randomly oriented, rejected on any close contact."""
    template = water_template()
    oxygens = [np.zeros(3)]
    positions = [template @ random_rotation(rng).T]
    while len(oxygens) < n_mol:
        for _attempt in range(10000):
            anchor = oxygens[rng.integers(len(oxygens))]
            u = rng.standard_normal(3)
            u /= np.linalg.norm(u)
            o_new = anchor + rng.uniform(2.8, 3.2) * u
            mol = template @ random_rotation(rng).T + o_new
            others = np.concatenate(positions)
            d_oo = np.linalg.norm(np.array(oxygens) - o_new, axis=1)
            d_all = np.linalg.norm(mol[:, None, :] - others[None, :, :], axis=-1)
            if d_oo.min() >= 2.7 and d_all.min() >= 1.6:
                oxygens.append(o_new)
                positions.append(mol)
                break
        else:  # pragma: no cover
            raise RuntimeError("could not place water molecule")
    pos = np.concatenate(positions)
    atoms = Atoms("OH2" * n_mol, positions=pos - pos.mean(axis=0), pbc=False)
    return atoms


def make_xtb():
    from tblite.ase import TBLite

    return TBLite(method="GFN2-xTB", verbosity=0)


def water_split(split: str) -> list[Atoms]:
    n_traj = WATER_SPLITS[split]
    frames: list[Atoms] = []
    t0 = time.time()
    for itraj in range(n_traj):
        rng = traj_rng(1, split, itraj)
        n_mol = WATER_N_MOLECULES[itraj % len(WATER_N_MOLECULES)]
        temperature = float(rng.uniform(*WATER_T_RANGE))
        atoms = build_water_cluster(n_mol, rng)
        atoms.calc = make_xtb()
        FIRE(atoms, logfile=None).run(fmax=0.5, steps=WATER_PRERELAX_STEPS)
        thermalize(atoms, temperature, rng)
        Stationary(atoms)
        ZeroRotation(atoms)
        dyn = Langevin(
            atoms,
            timestep=WATER_DT_FS * units.fs,
            temperature_K=temperature,
            friction=WATER_FRICTION_PER_FS / units.fs,
            rng=rng,
        )
        dyn.run(WATER_EQUIL_STEPS)
        for isnap in range(WATER_SNAPS_PER_TRAJ):
            if isnap:
                dyn.run(WATER_STRIDE)
            info = {
                "config_type": f"md_water{n_mol}",
                "traj_id": f"water_{split}_{itraj:03d}",
                "temperature_K": round(temperature, 3),
                "n_molecules": n_mol,
            }
            frames.append(labelled_copy(atoms, make_xtb(), ("energy", "forces"), info))
        print(
            f"  water_xtb/{split}: traj {itraj + 1:2d}/{n_traj} (H2O)_{n_mol} "
            f"T={temperature:5.1f} K T_inst={atoms.get_temperature():6.1f} K "
            f"({time.time() - t0:5.1f} s)",
            flush=True,
        )
    return frames


# ----------------------------------------------------------------------------
# output + checks
# ----------------------------------------------------------------------------
def write_frames(path: Path, frames: list[Atoms]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    write(tmp, frames, format="extxyz")
    tmp.replace(path)
    print(f"wrote {path.relative_to(DATA_DIR.parent)}: {len(frames)} structures, "
          f"{path.stat().st_size / 1024:.0f} KiB", flush=True)


def water_integrity(frames: list[Atoms]) -> tuple[int, float]:
    """Count frames where some H is not within 1.25 A of an O or some O does
    not own exactly two H (i.e. dissociation / proton transfer), and return
    the largest O-O nearest-neighbour distance (cluster still bound?)."""
    n_bad, max_nn = 0, 0.0
    for at in frames:
        z = at.get_atomic_numbers()
        d = at.get_all_distances()
        o_idx, h_idx = np.where(z == 8)[0], np.where(z == 1)[0]
        dho = d[np.ix_(h_idx, o_idx)]
        owner = dho.argmin(axis=1)
        if dho.min(axis=1).max() > 1.25 or np.any(np.bincount(owner, minlength=len(o_idx)) != 2):
            n_bad += 1
        doo = d[np.ix_(o_idx, o_idx)] + np.eye(len(o_idx)) * 1e9
        max_nn = max(max_nn, doo.min(axis=1).max())
    return n_bad, max_nn


def check_file(path: Path, want_stress: bool, max_force_limit: float) -> bool:
    frames = read(path, ":", format="extxyz")
    e_pa, fmax, x_ni, natoms, smax = [], [], [], [], []
    ok = True
    for at in frames:
        e = at.get_potential_energy()
        f = at.get_forces()
        vals = [np.atleast_1d(e), f.ravel()]
        if want_stress:
            s = at.get_stress()
            vals.append(s)
            smax.append(np.abs(s).max() / units.GPa)
        if not all(np.all(np.isfinite(v)) for v in vals):
            print(f"  NaN/inf in {path.name} frame {at.info.get('traj_id')}")
            ok = False
        e_pa.append(e / len(at))
        fmax.append(np.linalg.norm(f, axis=1).max())
        natoms.append(len(at))
        sym = at.get_chemical_symbols()
        if "Ni" in sym or "Cu" in sym:
            x_ni.append(sym.count("Ni") / len(sym))
    e_pa, fmax = np.array(e_pa), np.array(fmax)
    dmin = min(at.get_all_distances(mic=bool(at.pbc.any()))[np.triu_indices(len(at), 1)].min()
               for at in frames)
    print(f"{path.relative_to(DATA_DIR.parent)}: {len(frames)} structures, "
          f"{path.stat().st_size / 1024:.0f} KiB")
    print(f"  atoms/structure: {sorted(set(natoms))}  "
          f"pbc: {sorted(set(tuple(bool(p) for p in a.pbc) for a in frames))}")
    if x_ni:
        print(f"  Ni fraction: {min(x_ni):.3f} .. {max(x_ni):.3f}")
    else:
        print(f"  formulas: {sorted(set(a.get_chemical_formula() for a in frames))}")
    print(f"  energy/atom: {e_pa.min():.4f} .. {e_pa.max():.4f} eV")
    print(f"  max |F| per structure: {fmax.min():.3f} .. {fmax.max():.3f} eV/A "
          f"(mean {fmax.mean():.3f})")
    print(f"  min interatomic distance: {dmin:.3f} A")
    temps = sorted(set(int(round(float(a.info["temperature_K"]))) for a in frames))
    print(f"  thermostat temperatures (K): {temps}" if x_ni else
          f"  thermostat temperatures (K): {temps[0]} .. {temps[-1]} ({len(temps)} values)")
    if want_stress:
        print(f"  max |stress component|: {min(smax):.3f} .. {max(smax):.3f} GPa")
    if not x_ni:
        n_bad, max_nn_oo = water_integrity(frames)
        print(f"  water integrity: {n_bad} frames with broken/odd O-H bonding; "
              f"largest O-O nearest-neighbour distance {max_nn_oo:.2f} A")
        ok &= n_bad == 0
    if fmax.max() > max_force_limit:
        print(f"  WARNING: max |F| {fmax.max():.2f} above {max_force_limit} eV/A")
        ok = False
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("cuni_emt", "water_xtb"), default=None)
    parser.add_argument("--check", action="store_true", help="only check existing files")
    args = parser.parse_args(argv)
    todo = [args.only] if args.only else ["cuni_emt", "water_xtb"]
    t0 = time.time()
    if not args.check:
        for name in todo:
            for split in ("train", "val"):
                print(f"generating {name}/{split} ...", flush=True)
                frames = cuni_split(split) if name == "cuni_emt" else water_split(split)
                write_frames(DATA_DIR / name / f"{split}.extxyz", frames)
        print(f"generation done in {time.time() - t0:.1f} s", flush=True)
    print("sanity check:")
    ok = True
    for name in todo:
        for split in ("train", "val"):
            ok &= check_file(DATA_DIR / name / f"{split}.extxyz",
                             want_stress=(name == "cuni_emt"),
                             max_force_limit=10.0 if name == "cuni_emt" else 15.0)
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
