"""Bad input to pair_style equipot is a LAMMPS error with a message that names the
problem, and never a crash: in this process the LAMMPS instance raises and stays
usable; the `lmp` executable exits with status 1 and prints the error."""

import os

import numpy as np
import pytest
import torch

from lammps_pair_helpers import mass_commands, new_lammps, periodic_box, run_lmp, write_data


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("errors") / "box.data"
    write_data(path, periodic_box((2, 2, 2)))
    return str(path)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, models):
    directory = tmp_path_factory.mktemp("bad_models")
    corrupt = directory / "corrupt.pt"
    corrupt.write_bytes(np.random.default_rng(0).bytes(5000))
    truncated = directory / "truncated.pt"
    blob = open(models["f64"], "rb").read()
    truncated.write_bytes(blob[: len(blob) // 2])
    plain = directory / "plain_torchscript.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 1)), str(plain))
    return {"corrupt": str(corrupt), "truncated": str(truncated), "plain": str(plain),
            "missing": str(directory / "no_such_model.pt")}


def expect_error(commands, message, units="metal", data_file=None, before_box=()):
    """Runs commands; the last one must raise a LAMMPS error containing `message`,
    and the instance must still work afterwards."""
    lmp = new_lammps(["-log", "none", "-screen", "none", "-nocite"])
    try:
        setup = [f"units {units}", "atom_style atomic", *before_box, f"read_data {data_file}", *mass_commands()]
        for command in setup + commands[:-1]:
            lmp.command(command)
        with pytest.raises(Exception) as info:
            lmp.command(commands[-1])
        assert message in str(info.value), f"expected '{message}' in: {info.value}"
        # the process and the LAMMPS instance survive
        lmp.command("clear")
        lmp.command("print 'still alive'")
    finally:
        lmp.close()
    return str(info.value)


def test_wrong_number_of_elements(models, data_file):
    expect_error(["pair_style equipot", f"pair_coeff * * {models['f64']} Cu"],
                 "1 element name(s) given but the simulation has 2 atom type(s)", data_file=data_file)
    expect_error(["pair_style equipot", f"pair_coeff * * {models['f64']} Cu Ni Cu"],
                 "3 element name(s) given but the simulation has 2 atom type(s)", data_file=data_file)


def test_element_unknown_to_the_model(models, data_file):
    message = expect_error(["pair_style equipot", f"pair_coeff * * {models['f64']} Cu Fe"],
                           "atom type 2 is 'Fe': element 'Fe' is not known to this model (it knows: Cu Ni)",
                           data_file=data_file)
    assert "ERROR" in message
    expect_error(["pair_style equipot", f"pair_coeff * * {models['f64']} Xx Ni"],
                 "element 'Xx' is not known to this model", data_file=data_file)


def test_missing_model_file(bad_files, data_file):
    expect_error(["pair_style equipot", f"pair_coeff * * {bad_files['missing']} Cu Ni"],
                 f"model file '{bad_files['missing']}' does not exist or cannot be read", data_file=data_file)


@pytest.mark.parametrize("kind", ["corrupt", "truncated"])
def test_corrupt_model_file(bad_files, data_file, kind):
    expect_error(["pair_style equipot", f"pair_coeff * * {bad_files[kind]} Cu Ni"],
                 f"could not read model file '{bad_files[kind]}' as a TorchScript archive", data_file=data_file)


def test_torchscript_file_that_is_not_an_equipot_model(bad_files, data_file):
    expect_error(["pair_style equipot", f"pair_coeff * * {bad_files['plain']} Cu Ni"],
                 "has no equipot metadata: it is not a model written by export_model", data_file=data_file)


def test_torch_save_files_get_advice(fitted_model, data_file, tmp_path):
    """A training checkpoint (written by equipot train beside the fitted model) or any
    other torch.save pickle is not reported as corrupt but gets advice."""
    checkpoint = os.path.join(os.path.dirname(fitted_model), "checkpoint.pt")
    message = expect_error(["pair_style equipot", f"pair_coeff * * {checkpoint} Cu Ni"],
                           f"model file '{checkpoint}' is a training checkpoint", data_file=data_file)
    assert f"run 'export_model {checkpoint} -o model.pt' and use model.pt" in message
    pickled = str(tmp_path / "tensors.pt")
    torch.save({"a": torch.zeros(2)}, pickled)
    expect_error(["pair_style equipot", f"pair_coeff * * {pickled} Cu Ni"],
                 "was written by torch.save (pickled Python objects), not a TorchScript model", data_file=data_file)


@pytest.mark.parametrize("units", ["lj", "si", "cgs", "electron", "micro", "nano"])
def test_unsupported_units(models, data_file, units):
    expect_error(["pair_style equipot", f"pair_coeff * * {models['f64']} Cu Ni"],
                 f"'units {units}' is not supported", units=units, data_file=data_file)


def test_newton_off_is_refused(models, data_file):
    expect_error(["pair_style equipot", f"pair_coeff * * {models['f64']} Cu Ni", "run 0"],
                 "pair_style equipot requires 'newton on'", data_file=data_file, before_box=["newton off"])


def test_unknown_pair_style_keyword(data_file):
    expect_error(["pair_style equipot precision double"], "unknown keyword 'precision'", data_file=data_file)
    expect_error(["pair_style equipot device"], "'device' needs a value", data_file=data_file)


def test_unknown_device(data_file):
    expect_error(["pair_style equipot device tpu"], "unknown device 'tpu'", data_file=data_file)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: device cuda is valid here")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu(data_file, device):
    expect_error([f"pair_style equipot device {device}"],
                 f"device '{device}' requested but the libtorch that equipot uses has no usable CUDA device",
                 data_file=data_file)


def test_pair_coeff_must_be_star_star(models, data_file):
    message = expect_error(["pair_style equipot", f"pair_coeff 1 1 {models['f64']} Cu Ni"], "ERROR",
                           data_file=data_file)
    assert "pair_coeff" in message.lower() or "pair coefficients" in message.lower()


def test_all_types_null(models, data_file):
    expect_error(["pair_style equipot", f"pair_coeff * * {models['f64']} NULL NULL"],
                 "every atom type is NULL", data_file=data_file)


def test_run_without_pair_coeff(data_file):
    expect_error(["pair_style equipot", "run 0"], "All pair coeffs are not set", data_file=data_file)


def test_special_bonds_that_drop_bonded_pairs(models, tmp_path):
    lmp = new_lammps(["-log", "none", "-screen", "none", "-nocite"])
    try:
        for command in ["units metal", "atom_style bond", "region r block 0 8 0 8 0 8",
                        "create_box 2 r bond/types 1 extra/bond/per/atom 1",
                        "create_atoms 1 single 1 1 1", "create_atoms 2 single 3 1 1", *mass_commands(),
                        "bond_style zero", "bond_coeff 1", "create_bonds single/bond 1 1 2",
                        "pair_style equipot", f"pair_coeff * * {models['f64']} Cu Ni"]:
            lmp.command(command)
        with pytest.raises(Exception, match="special_bonds removes 1-2 pairs"):
            lmp.command("run 0")
        lmp.command("special_bonds lj/coul 1.0 1.0 1.0")
        lmp.command("run 0")  # now fine
        assert np.isfinite(lmp.get_thermo("pe"))
    finally:
        lmp.close()


def test_lmp_executable_reports_errors_without_crashing(bad_files, data_file, tmp_path):
    """The same errors through the `lmp` executable (one rank and two ranks): exit
    status 1 (not a signal), the message printed."""
    for nprocs in (1, 2):
        text = "\n".join(["units metal", "atom_style atomic", f"read_data {data_file}", *mass_commands(),
                          "pair_style equipot", f"pair_coeff * * {bad_files['corrupt']} Cu Ni", "run 0"])
        proc = run_lmp(text, tmp_path, nprocs=nprocs)
        assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:])
        assert "could not read model file" in proc.stdout and "TorchScript archive" in proc.stdout
        assert "ERROR" in proc.stdout
