"""Bad input gets a clear error that names the problem, never a crash or a number."""

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from equipot import EquipotCalculator, EquipotError, _core
from equipot.export import export_model, load_checkpoint, main as export_main
from tests.conftest import cuni_alloy, make_schnet


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bad") / "model.pt")
    export_model(make_schnet(num_interactions=2), path)
    return path


def test_missing_model_file(tmp_path):
    with pytest.raises(EquipotError, match="does not exist"):
        _core.Model(str(tmp_path / "nope.pt"))


def test_corrupt_model_file(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(EquipotError, match="could not read model file .* TorchScript archive"):
        _core.Model(str(path))


def test_truncated_model_file(tmp_path, model_file):
    data = open(model_file, "rb").read()
    path = tmp_path / "truncated.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EquipotError, match="could not read model file"):
        _core.Model(str(path))


def test_torchscript_file_without_equipot_metadata(tmp_path):
    path = str(tmp_path / "plain.pt")
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 1)), path)
    with pytest.raises(EquipotError, match="no equipot metadata"):
        _core.Model(path)


def test_training_checkpoint_given_as_model(fitted_cuni_model):
    """The checkpoint.pt that 'equipot train' wrote beside the fitted model."""
    checkpoint = os.path.join(os.path.dirname(fitted_cuni_model), "checkpoint.pt")
    for load in (_core.Model, EquipotCalculator):
        with pytest.raises(EquipotError, match="is a training checkpoint written by 'equipot train'") as info:
            load(checkpoint)
        assert f"run 'export_model {checkpoint} -o model.pt'" in str(info.value)


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_other_torch_save_file_given_as_model(tmp_path, zip_format):
    path = str(tmp_path / "tensors.pt")
    torch.save({"a": torch.zeros(2)}, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(EquipotError, match=r"written by torch.save \(pickled Python objects\), not a TorchScript "
                                           r"model: .*torch.jit.save\(torch.jit.script\(module\)\)"):
        _core.Model(path)


def rewrite_metadata(source, target, key, value):
    """Copy a model file, replacing one metadata entry (stored as extra/<key>)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith(f"/extra/{key}"):
                data = value.encode()
            zout.writestr(item, data)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("equipot_format_version", "3", "format version 3, but this build of equipot reads versions 1 to 2"),
        ("equipot_format_version", "2", "a TorchScript archive \\(format 1\\) but its metadata says format version 2"),
        ("elements", "Cu Xx", "'Xx', which is not a chemical element"),
        ("dtype", "float16", "dtype 'float16'"),
        ("dtype", "float32", "metadata says dtype float32 but the model computes in Double"),
        ("cutoff", "five", "'cutoff' = 'five' is not a number"),
        ("units", "kcal/mol", "units 'kcal/mol'"),
        ("num_layers", "2.7", "'num_layers' = '2.7' is not an integer"),
        ("equipot_format_version", "1e30", "is not an integer"),
        ("cutoff", "inf", "cutoff that is not a positive finite number"),
    ],
)
def test_bad_metadata(tmp_path, model_file, key, value, message):
    path = str(tmp_path / "edited.pt")
    rewrite_metadata(model_file, path, key, value)
    with pytest.raises(EquipotError, match=message):
        _core.Model(path)


def test_module_with_wrong_signature(tmp_path):
    class Wrong(torch.nn.Module):
        def forward(self, positions: torch.Tensor) -> torch.Tensor:
            return positions.sum()

    path = str(tmp_path / "wrong.pt")
    extra = {"equipot_format_version": "1", "elements": "Cu", "cutoff": "4.0", "num_layers": "1", "dtype": "float64"}
    torch.jit.save(torch.jit.script(Wrong()), path, _extra_files=extra)
    with pytest.raises(EquipotError, match="fails on a two-atom test graph"):
        _core.Model(path)


def test_error_raised_inside_torchscript_is_named(tmp_path):
    """The TorchScript interpreter's message starts with a generic line and ends with
    the one naming the error: that last line is what the core reports."""

    class RaisesForManyAtoms(torch.nn.Module):
        def forward(self, species: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor) -> torch.Tensor:
            if species.shape[0] > 2:  # passes the two-atom check at load time
                raise ValueError("this toy model takes at most two atoms")
            return edge_vectors.new_zeros(species.shape[0]) + edge_vectors.sum()

    path = str(tmp_path / "raises.pt")
    extra = {"equipot_format_version": "1", "elements": "Cu", "cutoff": "4.0", "num_layers": "1", "dtype": "float64"}
    torch.jit.save(torch.jit.script(RaisesForManyAtoms()), path, _extra_files=extra)
    message = r"^model evaluation failed: builtins.ValueError: this toy model takes at most two atoms$"
    with pytest.raises(EquipotError, match=message):
        _core.Model(path).evaluate_graph(np.zeros(3, dtype=np.int64), np.array([[0, 1], [1, 0]]),
                                         np.array([[1.0, 0, 0], [-1.0, 0, 0]]))
    atoms = cuni_alloy()
    atoms.symbols[:] = "Cu"
    atoms.calc = EquipotCalculator(path)
    with pytest.raises(EquipotError, match=message):
        atoms.get_potential_energy()


def test_unknown_element(model_file):
    atoms = cuni_alloy()
    atoms.symbols[3] = "Zr"
    atoms.calc = EquipotCalculator(model_file)
    with pytest.raises(EquipotError, match=r"element 'Zr' is not known to this model \(it knows: Cu Ni\)"):
        atoms.get_potential_energy()


def test_nan_positions(model_file):
    atoms = cuni_alloy()
    atoms.positions[5, 1] = np.nan
    atoms.calc = EquipotCalculator(model_file)
    with pytest.raises(EquipotError, match="position of atom 5 is not finite"):
        atoms.get_potential_energy()


def test_nan_edge_vectors(model_file):
    model = _core.Model(model_file)
    vectors = np.array([[1.0, 0, 0], [np.nan, 0, 0]])
    with pytest.raises(EquipotError, match="not finite"):
        model.evaluate_graph(np.zeros(2, dtype=np.int64), np.array([[0, 1], [1, 0]]), vectors)


def test_empty_structure(model_file):
    from ase import Atoms

    atoms = Atoms(cell=np.eye(3) * 5, pbc=True)
    atoms.calc = EquipotCalculator(model_file)
    with pytest.raises(EquipotError, match="no atoms"):
        atoms.get_potential_energy()


def test_species_out_of_range(model_file):
    model = _core.Model(model_file)
    with pytest.raises(EquipotError, match="species index out of range"):
        model.evaluate_graph(np.array([0, 7]), np.array([[0, 1], [1, 0]]), np.array([[1.0, 0, 0], [-1.0, 0, 0]]))


def test_stress_of_non_periodic_structure(model_file):
    from ase.calculators.calculator import PropertyNotImplementedError

    atoms = cuni_alloy()
    atoms.pbc = False
    atoms.calc = EquipotCalculator(model_file)
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        atoms.get_stress()


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(str(tmp_path / "missing.pt"))


def test_corrupt_and_truncated_checkpoint(tmp_path):
    good = tmp_path / "good.pt"
    torch.save({"architecture": "schnet", "elements": ["Cu"], "hyperparameters": {}, "model_state": {}}, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    for path in (truncated, garbage):
        with pytest.raises(ValueError, match="cannot be read"):
            load_checkpoint(str(path))
    torch.save({"weights": 1}, good)
    with pytest.raises(ValueError, match="not an equipot checkpoint"):
        load_checkpoint(str(good))


def test_export_cli_reports_bad_checkpoint(tmp_path, capsys):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x00" * 10)
    assert export_main([str(path)]) == 1
    assert "cannot be read" in capsys.readouterr().err


def test_export_cli_missing_checkpoint_exit_code(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "equipot.export", str(tmp_path / "none.pt")], capture_output=True, text=True
    )
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_float_arrays_are_not_silently_truncated_to_species(model_file):
    model = _core.Model(model_file)
    with pytest.raises(EquipotError, match="species must be an integer array"):
        model.evaluate_graph(np.array([0.0, 0.7]), np.array([[0, 1], [1, 0]]), np.array([[1.0, 0, 0], [-1.0, 0, 0]]))
    with pytest.raises(EquipotError, match="edge_index must be an integer array"):
        model.evaluate_graph(np.array([0, 1]), np.array([[0.0, 1], [1, 0]]), np.array([[1.0, 0, 0], [-1.0, 0, 0]]))


@pytest.mark.parametrize("source", ["nequip", "fairchem-equiformer-v2"])
def test_convert_cli_without_the_source_package(tmp_path, capsys, source):
    """The main environment has no peer packages: `equipot convert` says which is
    missing in one line instead of a traceback."""
    import importlib.util

    from equipot import cli

    package = {"nequip": "nequip", "fairchem-equiformer-v2": "fairchem"}[source]
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"not read")
    assert cli.main(["convert", "--from", source, str(path), "-o", str(tmp_path / "out.pt")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("equipot") and f"converting from {source} needs" in error and package in error


def rewrite_package_metadata(source, target, edit):
    """Copy a compiled package (format 2), passing its metadata dict through `edit`."""
    import json

    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("_metadata.json"):
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(item, data)


@pytest.mark.parametrize("edit, message", [
    (lambda m: {**m, "AOTI_CPU_ISA": "SVE512"}, "compiled for CPUs with SVE512 instructions, and this CPU lacks SVE512"),
    (lambda m: {**m, "AOTI_DEVICE_KEY": "cuda"}, "was compiled for device 'cuda' but is loaded for 'cpu'"),
    (lambda m: {**m, "equipot_format_version": "1"}, "AOTInductor package \\(format 2\\) but its metadata says format "
                                                      "version 1"),
    (lambda m: {k: v for k, v in m.items() if k.startswith("AOTI")}, "has no equipot metadata"),
    (lambda m: {**m, "dtype": "float32"}, "metadata says dtype float32 but the compiled model's weights are Double"),
])
def test_bad_compiled_package(tmp_path, model_files, edit, message):
    """A package for another machine is refused before its code is loaded; its metadata
    is checked as format 1's is."""
    path = str(tmp_path / "edited.pt2")
    rewrite_package_metadata(model_files("schnet", "aoti"), path, edit)
    with pytest.raises(EquipotError, match=message):
        _core.Model(path)


def test_truncated_compiled_package(tmp_path, model_files):
    data = open(model_files("schnet", "aoti"), "rb").read()
    path = tmp_path / "truncated.pt2"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EquipotError, match="could not read model file .* as an AOTInductor package .*truncated"):
        _core.Model(str(path))
    with pytest.raises(EquipotError, match="as an AOTInductor package"):
        _core.Model.from_bytes(data[: len(data) // 3])


def test_compiled_package_from_bytes(model_files):
    """OpenMM keeps a model's bytes, not its file: a package loads from them too."""
    path = model_files("schnet", "aoti")
    from_file, from_bytes = _core.Model(path), _core.Model.from_bytes(open(path, "rb").read())
    atoms = cuni_alloy()
    args = (atoms.positions, atoms.cell[:], atoms.pbc, from_file.species(atoms.get_chemical_symbols()))
    assert from_file.evaluate_structure(*args)["energy"] == from_bytes.evaluate_structure(*args)["energy"]


def test_export_without_a_cpp_compiler(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="needs a C\\+\\+ compiler.* was not found.* or export with --format torchscript"):
        export_model(make_schnet(num_interactions=2), str(tmp_path / "model.pt2"), file_format="aoti")
    assert not os.path.exists(tmp_path / "model.pt2")


def test_cpu_target_needs_the_compiled_format(tmp_path):
    with pytest.raises(ValueError, match="applies to the aoti format only"):
        export_model(make_schnet(num_interactions=2), str(tmp_path / "model.pt"), cpu="avx2")
    with pytest.raises(ValueError, match="unknown model file format 'onnx'"):
        export_model(make_schnet(num_interactions=2), str(tmp_path / "model.pt"), file_format="onnx")


def test_export_cli_writes_a_package(fitted_cuni_model, tmp_path, capsys):
    """export_model --format aoti from a training checkpoint: the core loads the package
    as format 2 with the checkpoint's elements; --cpu without it is refused."""
    checkpoint = os.path.join(os.path.dirname(fitted_cuni_model), "checkpoint.pt")
    output = str(tmp_path / "model.pt2")
    assert export_main([checkpoint, "--format", "aoti", "--cpu", "avx2", "-o", output]) == 0
    assert "AOTInductor package (format version 2)" in capsys.readouterr().out
    model = _core.Model(output)
    assert model.format_version == 2 and model.elements == _core.Model(fitted_cuni_model).elements
    assert export_main([checkpoint, "--cpu", "avx2", "-o", str(tmp_path / "model.pt")]) == 1
    assert "--cpu applies to --format aoti only" in capsys.readouterr().err
