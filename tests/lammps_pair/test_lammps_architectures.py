"""Every architecture runs in pair_style equipot with no special case in C++: a tiny
float64 model of each gives, on 1, 2 and 4 MPI ranks, the core's own serial energy,
forces, virial, per-atom energies and per-atom virials to 1e-10 (the ghost shell is
built from the model's declared receptive field, which the generic suite checks); and
so does its compiled package (format 2) on 1 and 2 ranks, against the TorchScript file."""

import numpy as np
import pytest

from lammps_pair_helpers import CUTOFF, ELEMENTS, parse_results, reference, run_lmp, triclinic_box, write_data
from test_lammps_mpi import compare, lammps_input
from tests.conftest import architectures


@pytest.mark.parametrize("file_format, ranks", [("torchscript", (1, 2, 4)), ("aoti", (1, 2))])
@pytest.mark.parametrize("architecture", architectures())
def test_ranks_agree_with_the_core(architecture, file_format, ranks, model_files, tmp_path):
    assert (ELEMENTS, CUTOFF) == (["Cu", "Ni"], 4.0)  # those of model_files
    path = model_files(architecture, file_format)
    atoms = triclinic_box(seed=4)
    ref = reference(model_files(architecture), atoms)  # the TorchScript file's, for both
    assert np.abs(ref["forces"]).max() > 1e-3
    for nprocs in ranks:
        run_dir = tmp_path / f"np{nprocs}"
        run_dir.mkdir()
        write_data(run_dir / "conf.data", atoms)
        proc = run_lmp(lammps_input("conf.data", path, "p p p", "* * *"), run_dir, nprocs=nprocs)
        assert proc.returncode == 0, proc.stdout[-4000:]
        compare(parse_results(run_dir, proc.stdout), ref, f"{architecture} ({file_format}), {nprocs} ranks vs the core")
