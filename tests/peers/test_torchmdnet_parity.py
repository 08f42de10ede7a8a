"""torchmd-net 3.1 TensorNet models (TorchMD_Net with Scalar head, Atomref prior and
std), converted to equipot, give the same energies and forces (float64, random
weights, O(3) and SO(3)).

torchmd-net builds its graph with a Warp neighbour list that includes self-loops and,
with a box, only takes the minimum image (boxes at least two cutoffs wide); the
parity tests replace its `distance` module by one that returns `conftest.edges`
(vectors r_i - r_j, torchmd-net's convention) plus the self-loops, so both models see
the same graph; one test also uses torchmd-net's own neighbour list.

torchmd-net 3.1 runs TensorNet through Warp kernels. Its pure-PyTorch fallback (only
reachable by patching the module, since the neighbour list needs Warp anyway) differs
from them in two ways found here:
- the Warp embedding builds the antisymmetric part with the opposite sign (the
  fallback uses r_i - r_j, the kernels effectively r_j - r_i): equal in O(3) mode,
  different in SO(3) mode; convert(..., pytorch_fallback=True) matches the fallback;
- the Warp `tensor_norm3` kernel uses 1/3 and 2/3 rounded to float32 even in float64,
  which puts the shipped path about 1e-8 (relative) off the exact maths. The shipped
  path is therefore checked at 1e-7, and at 1e-8 with that one kernel replaced by the
  exact formula (every other kernel kept).
Likewise its shifted softplus subtracts log 2 rounded to float32; the `ssp` test
uses the exact value."""

import math

import numpy as np
import pytest
import torch

pytest.importorskip("torchmdnet")
import torchmdnet.models.tensornet as peer_tensornet  # noqa: E402
from conftest import (assert_close_relative, cuni_cluster, cuni_periodic, edges,  # noqa: E402
                      equipot_energy_forces, water_cluster)
from torchmdnet import priors  # noqa: E402
from torchmdnet.models.model import create_model, load_model  # noqa: E402

from equipot.convert import convert, convert_file  # noqa: E402

CUTOFF = 4.0
RTOL = 1e-8
SHIPPED_WARP_RTOL = 1e-7  # its float32 1/3 (module docstring)
GROUPS = ["O(3)", "SO(3)"]
STRUCTURES = {
    "cuni_periodic": (cuni_periodic, ["Cu", "Ni"]),
    "cuni_cluster": (cuni_cluster, ["Ni", "Cu"]),
    "water": (water_cluster, ["H", "O"]),
}
PATHS = ["warp", "warp_exact_norm", "pytorch_fallback"]


def model_args(**overrides):
    """create_model's arguments for a small float64 TensorNet (16 channels, 2 layers,
    8 radial functions), as torchmd-train would pass them."""
    args = dict(
        model="tensornet", precision=64, embedding_dimension=16, num_layers=2, num_rbf=8, rbf_type="expnorm",
        trainable_rbf=False, activation="silu", cutoff_lower=0.0, cutoff_upper=CUTOFF, max_z=100,
        max_num_neighbors=64, equivariance_invariance_group="O(3)", derivative=False, atom_filter=-1,
        prior_model=None, output_model="Scalar", reduce_op="add", static_shapes=False,
    )
    args.update(overrides)
    return args


def randomize(model, seed):
    """Perturb every parameter and the radial widths, give the Atomref prior values of
    a few eV, so that every part of the model matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
        expansion = model.representation_model.distance_expansion
        if hasattr(expansion, "betas") and not isinstance(expansion.betas, torch.nn.Parameter):
            factor = 1.0 + 0.1 * torch.rand(expansion.betas.shape, generator=generator, dtype=torch.float64)
            expansion.betas.mul_(factor)
        for prior in model.prior_model or []:
            weight = prior.atomref.weight
            weight.copy_(-2.0 + torch.randn(weight.shape, generator=generator, dtype=weight.dtype))
    return model.eval()


def peer_model(seed=0, mean=None, **overrides):
    torch.manual_seed(seed)
    model = create_model(model_args(**overrides), prior_model=[priors.Atomref(max_z=100)], mean=mean,
                         std=torch.tensor(0.7, dtype=torch.float64))
    return randomize(model, seed)


class FixedEdges(torch.nn.Module):
    """Stands in for torchmd-net's neighbour list: the edges of `conftest.edges` with
    torchmd-net's vectors r_i - r_j, then one self-loop per atom (r = 0)."""

    def __init__(self, atoms, cutoff):
        super().__init__()
        i, j, shifts, _ = edges(atoms, cutoff)
        self.i, self.j = torch.from_numpy(i), torch.from_numpy(j)
        self.offsets = torch.from_numpy(shifts).double() @ torch.tensor(np.asarray(atoms.cell[:]))
        self.num_atoms = len(atoms)

    def forward(self, pos, batch=None, box=None):
        loop = torch.arange(self.num_atoms)
        vectors = pos[self.i] - pos[self.j] - self.offsets.to(pos.dtype)
        zeros = torch.zeros(self.num_atoms, dtype=pos.dtype)
        edge_index = torch.stack([torch.cat([self.i, loop]), torch.cat([self.j, loop])])
        lengths = torch.cat([torch.linalg.norm(vectors, dim=-1), zeros])
        return edge_index, lengths, torch.cat([vectors, zeros.unsqueeze(-1).expand(-1, 3)])


def peer_energy_forces(model, atoms, own_neighbor_list=False):
    if not own_neighbor_list:
        model.representation_model.distance = FixedEdges(atoms, model.representation_model.cutoff_upper)
    positions = torch.tensor(atoms.positions, dtype=torch.float64, requires_grad=True)
    numbers = torch.tensor(atoms.numbers, dtype=torch.long)
    box = torch.tensor(np.asarray(atoms.cell[:])) if own_neighbor_list and atoms.pbc.any() else None
    energy, _ = model(numbers, positions, box=box)
    (gradient,) = torch.autograd.grad(energy.sum(), positions)
    return float(energy.detach().sum()), (-gradient).numpy()


def exact_tensor_norm3(X):
    """What the Warp `tensor_norm3` kernel computes, with exact constants."""
    scalar, antisymmetric, symmetric = peer_tensornet._decompose_tensor(X)
    return torch.cat(
        (3 * scalar**2, peer_tensornet.tensor_norm(antisymmetric), peer_tensornet.tensor_norm(symmetric)), dim=-1
    )


def select_path(model, path, monkeypatch):
    """Run torchmd-net's TensorNet through `path`; return (convert options, rtol)."""
    if path == "warp":
        return {}, SHIPPED_WARP_RTOL
    if path == "warp_exact_norm":
        monkeypatch.setattr(peer_tensornet, "fn_tensor_norm3", exact_tensor_norm3)
        return {}, RTOL
    for name in ("compose_tensor", "decompose_tensor", "tensor_matmul_o3", "tensor_matmul_so3"):
        monkeypatch.setattr(peer_tensornet, name, getattr(peer_tensornet, "_" + name))
    for module in model.representation_model.modules():
        if hasattr(module, "opt"):
            module.opt = False
    return {"pytorch_fallback": True}, RTOL


def assert_parity(peer, ours, atoms, rtol, own_neighbor_list=False):
    e_peer, f_peer = peer_energy_forces(peer, atoms, own_neighbor_list)
    e_ours, f_ours = equipot_energy_forces(ours, atoms)
    assert_close_relative(e_ours, e_peer, rtol)
    assert_close_relative(f_ours, f_peer, rtol)
    assert np.abs(f_peer).max() > 1e-3  # real forces, not a vacuous comparison


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("structure", sorted(STRUCTURES))
@pytest.mark.parametrize("group", GROUPS)
def test_energies_and_forces_match(group, structure, path, monkeypatch):
    peer = peer_model(seed=GROUPS.index(group), equivariance_invariance_group=group)
    options, rtol = select_path(peer, path, monkeypatch)
    make_atoms, elements = STRUCTURES[structure]
    ours = convert("torchmd-net", peer, elements=elements, **options)
    assert ours.hyperparameters()["equivariance_group"] == group and ours.num_layers == 3
    assert_parity(peer, ours, make_atoms(), rtol)


def test_the_two_torchmdnet_paths_differ_in_so3_only(monkeypatch):
    """Documents the sign difference between torchmd-net's Warp and fallback paths."""
    atoms = water_cluster()
    results = {}
    for group in GROUPS:
        for path in ["warp_exact_norm", "pytorch_fallback"]:
            with monkeypatch.context() as patch:
                peer = peer_model(seed=5, equivariance_invariance_group=group)
                select_path(peer, path, patch)
                results[group, path] = peer_energy_forces(peer, atoms)[0]
    assert abs(results["O(3)", "warp_exact_norm"] - results["O(3)", "pytorch_fallback"]) < 1e-12
    assert abs(results["SO(3)", "warp_exact_norm"] - results["SO(3)", "pytorch_fallback"]) > 1e-6


@pytest.mark.parametrize("structure", ["cuni_periodic", "cuni_cluster", "water"])
def test_torchmdnets_own_neighbor_list(structure, monkeypatch):
    """torchmd-net's own graph (with self-loops; a box for the periodic alloy, whose
    7.16 A cell needs a cutoff of at most 3.58 A for its minimum image)."""
    cutoff = 3.5 if structure == "cuni_periodic" else CUTOFF
    peer = peer_model(seed=3, equivariance_invariance_group="SO(3)", cutoff_upper=cutoff)
    select_path(peer, "warp_exact_norm", monkeypatch)
    make_atoms, elements = STRUCTURES[structure]
    ours = convert("torchmd-net", peer, elements=elements)
    assert ours.cutoff == cutoff
    assert_parity(peer, ours, make_atoms(), RTOL, own_neighbor_list=True)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(cutoff_lower=1.2, trainable_rbf=True, activation="tanh"),  # water's O-H bonds fall below 1.2 A
        dict(activation="ssp", num_layers=1),
        dict(activation="swish", num_layers=0),
    ],
    ids=["lower_cutoff_trainable_rbf_tanh", "ssp_one_layer", "swish_no_layer"],
)
@pytest.mark.parametrize("group", GROUPS)
def test_other_hyperparameters(overrides, group, monkeypatch):
    peer = peer_model(seed=7, equivariance_invariance_group=group, **overrides)
    select_path(peer, "warp_exact_norm", monkeypatch)
    for module in peer.modules():
        if type(module).__name__ == "ShiftedSoftplus":
            # torchmd-net's shift is log(2) rounded to float32 (torch.log(torch.tensor(2.0)).item()),
            # 2e-9 off in float64 models; use the exact value, as equipot does.
            module.shift = math.log(2.0)
    ours = convert("torchmd-net", peer, elements=["H", "O"])
    assert ours.num_layers == overrides.get("num_layers", 2) + 1
    assert_parity(peer, ours, water_cluster(), RTOL)


def test_mean_disabled_atomref_and_unsupported_parts(monkeypatch):
    atoms = water_cluster()
    select_path(None, "warp_exact_norm", monkeypatch)
    peer = peer_model(seed=9, mean=torch.tensor(-1.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="mean"):
        convert("torchmd-net", peer, elements=["H", "O"])
    ours = convert("torchmd-net", peer, elements=["H", "O"], drop_mean=True)
    e_peer, f_peer = peer_energy_forces(peer, atoms)
    e_ours, f_ours = equipot_energy_forces(ours, atoms)
    assert_close_relative(e_ours, e_peer + 1.5, RTOL)
    assert_close_relative(f_ours, f_peer, RTOL)

    # A delta-learning model (Atomref disabled) converts as it computes, unless asked.
    peer = peer_model(seed=10)
    peer.prior_model[0].enable = False
    ours = convert("torchmd-net", peer, elements=["H", "O"])
    assert torch.all(ours.reference_energies == 0)
    assert_parity(peer, ours, atoms, RTOL)
    total = convert("torchmd-net", peer, elements=["H", "O"], enable_atomref=True)
    atomref = peer.prior_model[0].atomref.weight.detach().reshape(-1)
    assert torch.equal(total.reference_energies, atomref[[1, 8]])

    peer.prior_model.append(priors.ZBL(cutoff_distance=2.0, max_num_neighbors=32, atomic_number=torch.arange(100),
                                       distance_scale=1.0, energy_scale=1.0))
    with pytest.raises(ValueError, match="ZBL"):
        convert("torchmd-net", peer, elements=["H", "O"])
    with pytest.raises(ValueError, match="reduce_op"):
        convert("torchmd-net", peer_model(reduce_op="mean"), elements=["H", "O"])
    with pytest.raises(ValueError, match="rbf_type"):
        convert("torchmd-net", peer_model(rbf_type="gauss"), elements=["H", "O"])
    with pytest.raises(ValueError, match="mish"):
        convert("torchmd-net", peer_model(activation="mish"), elements=["H", "O"])
    other = create_model(model_args(model="equivariant-transformer", attn_activation="silu", num_heads=2,
                                    distance_influence="both", neighbor_embedding=True))
    with pytest.raises(ValueError, match="TorchMD_ET"):
        convert("torchmd-net", other, elements=["H", "O"])
    with pytest.raises(ValueError, match="Es"):  # Z = 99 is beyond max_z = 90
        convert("torchmd-net", peer_model(max_z=90), elements=["H", "Es"])


def write_training_checkpoint(path, seed=11, **overrides):
    """A checkpoint as torchmd-train's Lightning ModelCheckpoint writes it: the LNNP
    module's hyper_parameters (every argparse option) and its state_dict ('model.'
    prefixed), with an Atomref prior, std and mean (zero, as without --standardize)."""
    from torchmdnet.models.model import create_prior_models
    from torchmdnet.module import LNNP
    from torchmdnet.scripts.train import get_argparse

    args = vars(get_argparse().parse_args([
        "--model", "tensornet", "--precision", "64", "--embedding-dimension", "16", "--num-layers", "2",
        "--num-rbf", "8", "--cutoff-upper", str(CUTOFF), "--equivariance-invariance-group", "SO(3)",
        "--derivative", "true", "--log-dir", str(path.parent),
    ]))
    args["prior_model"] = {"Atomref": {"max_z": 100}}
    args.update(overrides)
    prior_models = create_prior_models(args)
    args["prior_args"] = [prior.get_init_args() for prior in prior_models]
    torch.manual_seed(seed)
    module = LNNP(args, prior_model=prior_models, mean=torch.tensor(0.0, dtype=torch.float64),
                  std=torch.tensor(1.3, dtype=torch.float64))
    randomize(module.model, seed)
    checkpoint = {
        "epoch": 9,
        "global_step": 100,
        "pytorch-lightning_version": "2.5.0",
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
    }
    torch.save(checkpoint, str(path))
    return str(path)


def test_training_checkpoint(tmp_path, monkeypatch):
    path = write_training_checkpoint(tmp_path / "epoch=9-val_loss=0.1000.ckpt")
    select_path(None, "warp_exact_norm", monkeypatch)
    peer = load_model(path, derivative=False)
    atoms = cuni_periodic()
    narrow = convert_file("torchmd-net", path, elements=["Cu", "Ni"])
    assert narrow.elements == ["Cu", "Ni"] and float(narrow.energy_scale) == 1.3
    assert narrow.hyperparameters()["equivariance_group"] == "SO(3)"
    assert_parity(peer, narrow, atoms, RTOL)
    # Without `elements`, every element of torchmd-net's embedding (Z = 1 .. max_z - 1).
    every = convert_file("torchmd-net", path)
    assert every.elements[0] == "H" and len(every.elements) == 99
    assert_close_relative(equipot_energy_forces(every, atoms)[0], equipot_energy_forces(narrow, atoms)[0], 1e-14)

    charged = write_training_checkpoint(tmp_path / "charged.ckpt", charge=True)
    with pytest.raises(ValueError, match="charge"):
        convert_file("torchmd-net", charged)
