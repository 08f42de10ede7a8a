"""nequip 0.19 NequIP models (`NequIPGNNModel`, random weights, float64), converted to
equipot, give the same energies and forces to 1e-8 relative: both fed the edges of
`conftest.edges` (nequip's edge vectors r_j - r_i + shift @ cell, row 0 the centre,
as equipot's), with per-type scales, shifts and neighbour normalisations set, for
l_max 1-3, with and without parity."""

import numpy as np
import pytest
import torch

pytest.importorskip("nequip")
from conftest import assert_close_relative, cuni_cluster, cuni_periodic, edges, equipot_energy_forces, water_cluster  # noqa: E402

from equipot.convert import convert  # noqa: E402

RTOL = 1e-8
CUTOFF = 4.0


def nequip_model(type_names=("Cu", "Ni"), seed=0, model_dtype="float64", cutoff=CUTOFF, **overrides):
    from nequip.model import NequIPGNNModel

    from equipot.convert.nequip import set_up_nequip

    set_up_nequip()  # leaves torch's default dtype alone, for the peers tested after this file
    options = dict(num_layers=3, l_max=2, num_features=4, radial_mlp_width=8, num_bessels=6, parity=True,
                   avg_num_neighbors={name: 10.0 + k for k, name in enumerate(type_names)},
                   per_type_energy_scales={name: 1.5 - 0.4 * k for k, name in enumerate(type_names)},
                   per_type_energy_shifts={name: -3.0 + k for k, name in enumerate(type_names)})
    options.update(overrides)
    model = NequIPGNNModel(seed=seed, model_dtype=model_dtype, r_max=cutoff, type_names=list(type_names), **options)
    with torch.no_grad():  # nequip initialises some weights to zero; make every path count
        generator = torch.Generator().manual_seed(seed)
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return model.eval()


def nequip_data(model, atoms, cutoff=CUTOFF):
    """nequip's input dict for `atoms` with the edges of `conftest.edges`."""
    from nequip.data import AtomicDataDict

    i, j, shifts, _ = edges(atoms, cutoff)
    index = {name: k for k, name in enumerate(model.type_names)}
    return {
        AtomicDataDict.POSITIONS_KEY: torch.tensor(atoms.positions, dtype=torch.float64),
        AtomicDataDict.EDGE_INDEX_KEY: torch.from_numpy(np.stack([i, j])),
        AtomicDataDict.EDGE_CELL_SHIFT_KEY: torch.from_numpy(shifts).double(),
        AtomicDataDict.CELL_KEY: torch.tensor(np.asarray(atoms.cell[:]), dtype=torch.float64).view(1, 3, 3),
        AtomicDataDict.ATOM_TYPE_KEY: torch.tensor([index[s] for s in atoms.get_chemical_symbols()]),
        AtomicDataDict.NUM_NODES_KEY: torch.tensor([len(atoms)]),
        AtomicDataDict.PBC_KEY: torch.tensor(atoms.pbc).view(1, 3),
    }


def nequip_energy_forces(model, atoms):
    from nequip.data import AtomicDataDict

    out = model(nequip_data(model, atoms))
    return float(out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().sum()), out[AtomicDataDict.FORCE_KEY].detach().numpy()


def assert_same(peer, atoms):
    ours = convert("nequip", peer)
    e_peer, f_peer = nequip_energy_forces(peer, atoms)
    e_ours, f_ours = equipot_energy_forces(ours, atoms)
    assert_close_relative(e_ours, e_peer, RTOL)
    assert_close_relative(f_ours, f_peer, RTOL)
    return ours


@pytest.mark.parametrize("structure", [cuni_periodic, cuni_cluster])
@pytest.mark.parametrize("l_max,parity", [(1, True), (2, True), (2, False), (3, False)])
def test_nequip_parity(structure, l_max, parity):
    ours = assert_same(nequip_model(l_max=l_max, parity=parity), structure())
    assert ours.num_layers == 3 and ours.hyperparameters()["l_max"] == l_max


def test_nequip_preset_with_per_l_features_and_readout_mlp():
    """nequip's preset style: parity off, a feature count per l, a deeper radial MLP
    and a hidden readout layer."""
    assert_same(nequip_model(l_max=2, parity=False, num_features=[6, 4, 2], radial_mlp_depth=2,
                             readout_mlp_hidden_layers_depth=1, readout_mlp_hidden_layers_width=5,
                             type_embed_num_features=3), cuni_periodic(seed=3))


def test_nequip_water_elements_and_trainable_bessels():
    assert_same(nequip_model(type_names=("H", "O"), bessel_trainable=True, avg_num_neighbors=7.0,
                             per_type_energy_scales=2.0), water_cluster())


def test_nequip_type_names_that_are_not_elements_need_elements():
    peer = nequip_model(type_names=("A", "B"))
    with pytest.raises(ValueError, match="unknown element 'A'"):
        convert("nequip", peer)
    ours = convert("nequip", peer, elements=["Cu", "Ni"])
    assert ours.elements == ["Cu", "Ni"]


def test_nequip_refuses_what_equipot_does_not_build():
    with pytest.raises(ValueError, match="per-edge-type cutoffs"):
        convert("nequip", nequip_model(per_edge_type_cutoff={"Cu": 3.5, "Ni": 3.0}))
    with pytest.raises(ValueError, match="norm"):
        convert("nequip", nequip_model(convnet_nonlinearity_type="norm"))


# A minimal nequip-train run (nequip's own toy-EMT test config, shrunk): the checkpoint
# a nequip user has, for `equipot convert --from nequip`.
TRAIN_CONFIG = """
run: [train]
seed: 1
cutoff_radius: 4.0
model_type_names: [Cu]
chemical_species: ${model_type_names}
dataloader: {_target_: torch.utils.data.DataLoader, batch_size: 4}
data:
  _target_: nequip.data.datamodule.NequIPDataModule
  seed: ${seed}
  split_dataset:
    dataset:
      _target_: nequip.data.dataset.EMTTestDataset
      transforms:
        - _target_: nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper
          model_type_names: ${model_type_names}
          chemical_species_to_atom_type_map: {Cu: Cu}
        - _target_: nequip.data.transforms.NeighborListTransform
          r_max: ${cutoff_radius}
      supercell: [2, 2, 2]
      seed: ${seed}
      num_frames: 10
      element: Cu
    train: 8
    val: 2
  train_dataloader: ${dataloader}
  val_dataloader: ${dataloader}
  stats_manager:
    _target_: nequip.data.CommonDataStatisticsManager
    type_names: ${model_type_names}
trainer:
  _target_: lightning.Trainer
  max_epochs: 1
  callbacks:
    - _target_: lightning.pytorch.callbacks.ModelCheckpoint
      dirpath: ${hydra:runtime.output_dir}
      filename: best
training_module:
  _target_: nequip.train.EMALightningModule
  loss: {_target_: nequip.train.EnergyForceLoss, per_atom_energy: true, coeffs: {total_energy: 1.0, forces: 1.0}}
  val_metrics: {_target_: nequip.train.EnergyForceMetrics, coeffs: {total_energy_mae: 1.0, forces_mae: 1.0}}
  optimizer: {_target_: torch.optim.Adam, lr: 0.01}
  model:
    _target_: nequip.model.NequIPGNNModel
    seed: ${seed}
    model_dtype: float64
    type_names: ${model_type_names}
    r_max: ${cutoff_radius}
    l_max: 2
    num_layers: 2
    num_features: 4
    radial_mlp_width: 8
    avg_num_neighbors: ${training_data_stats:num_neighbors_mean}
    per_type_energy_shifts: ${training_data_stats:per_atom_energy_mean}
    per_type_energy_scales: ${training_data_stats:forces_rms}
"""


def test_cli_converts_a_nequip_training_checkpoint(tmp_path):
    import os
    import subprocess
    import sys

    from ase.build import bulk

    from equipot import cli
    from equipot.convert import nequip as nequip_source
    from equipot.models import build_model

    (tmp_path / "config.yaml").write_text(TRAIN_CONFIG)
    train = os.path.join(os.path.dirname(sys.executable), "nequip-train")
    subprocess.run([train, "-cp", str(tmp_path), "-cn", "config", f"hydra.run.dir={tmp_path / 'run'}"],
                   check=True, capture_output=True, cwd=tmp_path,  # Lightning writes lightning_logs/ here
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    checkpoint_file = str(tmp_path / "run" / "best.ckpt")
    output = str(tmp_path / "checkpoint.pt")
    assert cli.main(["convert", "--from", "nequip", checkpoint_file, "-o", output]) == 0
    checkpoint = torch.load(output, weights_only=False)
    assert checkpoint["architecture"] == "nequip" and checkpoint["elements"] == ["Cu"]
    rebuilt = build_model("nequip", ["Cu"], **checkpoint["hyperparameters"]).to(torch.float64)
    rebuilt.load_state_dict(checkpoint["model_state"])
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.1, seed=4)
    peer = nequip_source.load(checkpoint_file)
    e_peer, f_peer = nequip_energy_forces(peer, atoms)
    e_ours, f_ours = equipot_energy_forces(rebuilt.eval(), atoms)
    assert_close_relative(e_ours, e_peer, RTOL)
    assert_close_relative(f_ours, f_peer, RTOL)
