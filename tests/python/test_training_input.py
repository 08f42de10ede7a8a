"""What a user's first training runs hit: files where only some frames carry forces
(or energies), misspelt config keys, the wrong file given to export_model, and the
thread/device/seed options. Tiny models and a few epochs: each test takes seconds."""

import json
import os
import subprocess
import sys

import ase.io
import numpy as np
import pytest
import torch
import yaml
from ase.calculators.singlepoint import SinglePointCalculator

from equipot.training import ConfigError, check_config, train
from tests.conftest import DATA

TINY_MODEL = {"architecture": "schnet", "cutoff": 4.0, "num_features": 8, "num_filters": 8, "num_interactions": 1,
              "num_basis": 8}


def frames_with_labels(count, energy=True, forces=True, offset=0):
    """`count` Cu-Ni frames of the bundled data, keeping only the labels asked for."""
    frames = ase.io.read(os.path.join(DATA, "cuni_emt", "train.extxyz"), f"{offset}:{offset + count}")
    out = []
    for atoms in frames:
        results = {}
        if energy:
            results["energy"] = atoms.get_potential_energy()
        if forces:
            results["forces"] = atoms.get_forces()
        atoms = atoms.copy()
        atoms.calc = SinglePointCalculator(atoms, **results)
        out.append(atoms)
    return out


def run_training(tmp_path, frames, val_frames=None, epochs=2, **training):
    ase.io.write(tmp_path / "train.extxyz", frames)
    data = {"train": str(tmp_path / "train.extxyz")}
    if val_frames is not None:
        ase.io.write(tmp_path / "val.extxyz", val_frames)
        data["val"] = str(tmp_path / "val.extxyz")
    config = {"model": TINY_MODEL, "data": data, "out": str(tmp_path / "run"),
              "training": {"epochs": epochs, "batch_size": 4, **training}}
    return train(config, progress=False)


def test_mixed_files_train_forces_on_the_frames_that_have_them(tmp_path, capsys):
    # 8 frames with forces, 16 without, shuffled into shared batches: before, any batch
    # holding one frame without forces skipped the force term, so forces were never fitted.
    with_forces, without = frames_with_labels(8), frames_with_labels(16, forces=False, offset=8)
    frames = [f for pair in zip(without[:8], with_forces) for f in pair] + without[8:]
    summary = run_training(tmp_path, frames, val_frames=frames_with_labels(4, offset=40))
    assert summary["labels"] == {"energy": 24, "forces": 8, "stress": 0}
    assert "val_forces_mae" in summary
    history = json.load(open(tmp_path / "run" / "metrics.json"))["history"]
    assert all("train_forces_mae" in h for h in history)
    assert "WARNING" not in capsys.readouterr().err


def test_force_term_uses_only_labelled_atoms():
    """The force loss of a mixed batch equals that of its labelled frames alone."""
    import random

    from equipot.data import structure_from_atoms
    from equipot.training import DEFAULT_CONFIG, run_epoch
    from tests.conftest import make_schnet

    model = make_schnet(num_interactions=1)
    labelled = [structure_from_atoms(a, model.elements, model.cutoff) for a in frames_with_labels(2)]
    unlabelled = [structure_from_atoms(a, model.elements, model.cutoff)
                  for a in frames_with_labels(2, energy=False, forces=False, offset=2)]
    settings = {**DEFAULT_CONFIG["training"], "batch_size": 4, "energy_weight": 0.0}
    alone = run_epoch(model, labelled, settings, torch.float64, rng=random.Random(0))
    mixed = run_epoch(model, labelled + unlabelled, settings, torch.float64, rng=random.Random(0))
    assert mixed["forces_mae"] == pytest.approx(alone["forces_mae"], rel=1e-12)
    assert mixed["loss"] == pytest.approx(alone["loss"], rel=1e-12)


def test_energy_only_file_warns_loudly(tmp_path, capsys):
    summary = run_training(tmp_path, frames_with_labels(12, forces=False))
    err = capsys.readouterr().err
    assert "WARNING: no training frame has forces" in err and "force_weight" in err
    assert summary["labels"]["forces"] == 0 and "val_forces_mae" not in summary
    assert any("no training frame has forces" in w for w in summary["warnings"])


def test_forces_only_file_trains_without_energies(tmp_path, capsys):
    summary = run_training(tmp_path, frames_with_labels(12, energy=False))
    assert "WARNING: no training frame has energy" in capsys.readouterr().err
    assert "val_forces_mae" in summary and "val_energy_mae" not in summary


def test_nothing_to_train_on_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="nothing to train on"):
        run_training(tmp_path, frames_with_labels(6, energy=False, forces=False))


def test_label_counts_are_announced(tmp_path, capsys):
    ase.io.write(tmp_path / "train.extxyz", frames_with_labels(6) + frames_with_labels(4, forces=False, offset=6))
    config = {"model": TINY_MODEL, "data": {"train": str(tmp_path / "train.extxyz"), "val_fraction": 0.2},
              "out": str(tmp_path / "run"), "training": {"epochs": 1, "batch_size": 4}}
    train(config, progress=True)
    out = capsys.readouterr().out
    assert "training set: 8 frames; energy in 8, forces in" in out and "validation set: 2 frames" in out


@pytest.mark.parametrize("config, message", [
    ({"training": {"epoch": 1}}, "unknown key 'epoch' in section 'training' (did you mean 'epochs'?)"),
    ({"trainig": {}}, "unknown key 'trainig' in the config (did you mean 'training'?)"),
    ({"model": {"num_feature": 8}}, "unknown key 'num_feature' in section 'model' (did you mean 'num_features'?)"),
    ({"model": {"architecture": "painn", "num_filters": 8}}, "unknown key 'num_filters' in section 'model'"),
    ({"model": {"architecture": "shnet"}}, "unknown key 'shnet' in the architectures (model.architecture) "
                                           "(did you mean 'schnet'?)"),
    ({"data": {"training": "x.xyz"}}, "unknown key 'training' in section 'data'"),
    ({"training": {"epochs": "ten"}}, "training.epochs must be int, got 'ten'"),
    ({"training": {"learning_rate": "1e-3"}}, "training.learning_rate must be float"),
    ({"model": {"num_features": 8.5}}, "model.num_features must be int"),
    ({"training": {"threads": 0}}, "training.threads must be a positive integer"),
    ({"training": {"dtype": "float16"}}, "training.dtype must be one of float32, float64"),
])
def test_misspelt_or_mistyped_settings_are_errors(config, message):
    with pytest.raises(ConfigError) as error:
        check_config(config)
    assert message in str(error.value)
    assert "valid keys" in str(error.value) or "must be" in str(error.value)


def test_valid_configs_pass():
    with open(os.path.join(os.path.dirname(DATA), "examples", "schnet_cuni.yaml")) as handle:
        check_config(yaml.safe_load(handle))
    check_config({"model": {"architecture": "dimenet++", "num_blocks": 2, "cutoff": 5}, "training": {"threads": 2}})


def cli(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "equipot.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def test_cli_rejects_misspelt_yaml_key_and_abbreviated_option(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"training": {"epoch": 1}}))
    result = cli("train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run"))
    assert result.returncode == 1 and "did you mean 'epochs'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    result = cli("train", "--epoch", "1")
    assert result.returncode == 2 and "unrecognized arguments: --epoch" in result.stderr
    from equipot.cli import export_main

    with pytest.raises(SystemExit) as exit_status:  # export_model --dt is not --dtype either
        export_main(["checkpoint.pt", "--dt", "float32"])
    assert exit_status.value.code == 2


def test_yaml_data_paths_are_relative_to_the_yaml(tmp_path):
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    ase.io.write(folder / "data" / "train.extxyz", frames_with_labels(10))
    config = {"model": TINY_MODEL, "data": {"train": "data/train.extxyz"}, "training": {"epochs": 1}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli("train", str(folder / "config.yaml"), "--out", "run", "--quiet", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "run" / "checkpoint.pt").exists()


def test_export_model_on_an_exported_model_says_what_it_is(tmp_path):
    from equipot.export import export_model
    from tests.conftest import make_schnet

    export_model(make_schnet(num_interactions=1), str(tmp_path / "model.pt"))
    result = subprocess.run([sys.executable, "-m", "equipot.export", str(tmp_path / "model.pt")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "already exported by export_model" in result.stderr and "pair_coeff" in result.stderr
    assert "checkpoint.pt written by 'equipot train'" in result.stderr


def test_threads_device_and_seed_reach_torch(tmp_path):
    previous = torch.get_num_threads()
    try:
        run_training(tmp_path, frames_with_labels(10), epochs=1, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device 'cuda' requested, but this torch sees no CUDA device"):
            run_training(tmp_path, frames_with_labels(10), epochs=1, device="cuda")
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        run_training(tmp_path, frames_with_labels(10), epochs=1, device="gpu")


def test_same_seed_gives_bitwise_the_same_run(tmp_path):
    frames = frames_with_labels(12)

    def weights_and_history(folder, seed):
        folder.mkdir()
        run_training(folder, frames, epochs=2, seed=seed)
        state = torch.load(folder / "run" / "checkpoint.pt", weights_only=False)
        history = [{k: v for k, v in h.items() if k != "seconds"} for h in state["history"]]
        return state["model_state"], history

    first, history_first = weights_and_history(tmp_path / "a", 7)
    second, history_second = weights_and_history(tmp_path / "b", 7)
    other, _ = weights_and_history(tmp_path / "c", 8)
    assert history_first == history_second
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_cli_version_and_help_without_torch():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("equipot ")
    code = ("import sys; from equipot.cli import export_main\n"
            "try:\n    export_main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'export_model --help imported torch'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--dtype" in result.stdout and "float64 (default)" in result.stdout


def test_calculator_threads_keyword(tmp_path):
    from equipot import EquipotCalculator
    from equipot.export import export_model
    from tests.conftest import make_schnet

    export_model(make_schnet(num_interactions=1), str(tmp_path / "model.pt"))
    previous = torch.get_num_threads()
    try:
        EquipotCalculator(str(tmp_path / "model.pt"), threads=1)
        assert torch.get_num_threads() == 1
        for bad in (0, 1.5, "2"):
            with pytest.raises(ValueError, match="threads must be a positive integer"):
                EquipotCalculator(str(tmp_path / "model.pt"), threads=bad)
    finally:
        torch.set_num_threads(previous)
