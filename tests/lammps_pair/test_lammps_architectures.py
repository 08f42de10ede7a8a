"""Every architecture runs in pair_style equipot with no special case in C++: a tiny
float64 model of each gives, on 1, 2 and 4 MPI ranks, the core's own serial energy,
forces, virial, per-atom energies and per-atom virials to 1e-10 (the ghost shell is
built from the model's declared receptive field, which the generic suite checks)."""

import numpy as np
import pytest

from equipot.export import export_model
from lammps_pair_helpers import CUTOFF, ELEMENTS, parse_results, reference, run_lmp, triclinic_box, write_data
from test_lammps_mpi import compare, lammps_input
from tests.conftest import architectures, make_model


@pytest.mark.parametrize("architecture", architectures())
def test_ranks_1_2_4_agree_with_the_core(architecture, tmp_path):
    path = str(tmp_path / "model.pt")
    export_model(make_model(architecture, ELEMENTS, cutoff=CUTOFF), path, "float64")
    atoms = triclinic_box(seed=4)
    ref = reference(path, atoms)
    assert np.abs(ref["forces"]).max() > 1e-3
    for nprocs in (1, 2, 4):
        run_dir = tmp_path / f"np{nprocs}"
        run_dir.mkdir()
        write_data(run_dir / "conf.data", atoms)
        proc = run_lmp(lammps_input("conf.data", path, "p p p", "* * *"), run_dir, nprocs=nprocs)
        assert proc.returncode == 0, proc.stdout[-4000:]
        compare(parse_results(run_dir, proc.stdout), ref, f"{architecture}, {nprocs} ranks vs the core")
