"""torch-geometric's DimeNet++ and SchNet against their equipot conversions: same
energies, per-atom energies and forces (float64, 1e-8 relative) on periodic Cu-Ni,
a Cu-Ni cluster and water, from random weights (every parameter perturbed: PyG's
output layers start at zero). Also `equipot convert` on PyG files (cli.main).

PyG builds its graph with radius_graph (torch-cluster) and its triplets with
torch-sparse; neither installs with torch 2.13, and its forward takes positions
only, so it cannot see periodic images. `pyg_energy_forces` therefore runs PyG's
own blocks (rbf, sbf, embedding, interaction and output blocks) on the edges of
conftest.edges, with distances and angles from the edge vectors and triplets formed
by PyG's rule (every k = i dropped), exactly as its forward does after building its
graph; test_driven_path_is_pygs_forward checks that against PyG's real forward with
pure-torch stand-ins for radius_graph and triplets on the molecules.

Runs in .venv-peers: OMP_NUM_THREADS=1 .venv-peers/bin/python -m pytest
tests/peers/test_torch_geometric_parity.py -q

SchNet: PyG's forward takes its graph from `model.interaction_graph` (by default a
radius_graph, torch-cluster again), so `pyg_schnet_energy_forces` swaps in
`GivenEdges`, our edges with lengths from the positions (periodic images included),
and runs PyG's own forward; test_schnet_driven_path_is_pygs_forward checks that
against its default graph with a pure-torch radius_graph on the molecules."""

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")
from torch_geometric.nn.models import DimeNet, DimeNetPlusPlus, SchNet  # noqa: E402
from torch_geometric.nn.models import dimenet as pyg_dimenet  # noqa: E402
from torch_geometric.nn.models import schnet as pyg_schnet_module  # noqa: E402

from equipot import cli  # noqa: E402
from equipot.convert import convert, convert_file  # noqa: E402
from equipot.nn import triplets as equipot_triplets  # noqa: E402
from tests.peers.conftest import (assert_close_relative, cuni_cluster, cuni_periodic, edges,  # noqa: E402
                                  equipot_energy_forces, water_cluster)

# cuni_periodic's cubic cell is 7.16 A, more than twice this cutoff: no atom meets
# two images of another, so PyG's k != i rule and equipot's reverse-edge rule agree.
CUTOFF = 3.5
SIZES = dict(hidden_channels=16, out_channels=1, num_blocks=2, int_emb_size=8, basis_emb_size=4,
             out_emb_channels=16, num_spherical=3, num_radial=4)
STRUCTURES = {
    "periodic_cuni": (cuni_periodic, ["Cu", "Ni"]),
    "cuni_cluster": (cuni_cluster, ["Cu", "Ni"]),
    "water": (water_cluster, ["H", "O"]),
}


def pyg_model(seed=0, dtype=torch.float64, **overrides):
    torch.manual_seed(seed)
    model = DimeNetPlusPlus(**{**SIZES, "cutoff": CUTOFF, **overrides})
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return model.to(dtype).eval()


def pyg_triplets(i, j, num_atoms):
    """PyG's triplets (k -> j -> i over edges e = (centre i, neighbour j)): every edge
    e' with centre j, except those whose neighbour k is atom i. Returns (idx_kj, idx_ji)."""
    by_centre = [[] for _ in range(num_atoms)]
    for e, centre in enumerate(i.tolist()):
        by_centre[centre].append(e)
    kj, ji = [], []
    for e, (centre, neighbour) in enumerate(zip(i.tolist(), j.tolist())):
        for other in by_centre[neighbour]:
            if j[other] != centre:
                kj.append(other)
                ji.append(e)
    return torch.tensor(kj, dtype=torch.int64), torch.tensor(ji, dtype=torch.int64)


def pyg_energy_forces(model, atoms):
    """Energy, per-atom energies and forces of PyG's DimeNet++ on the edges (with
    periodic images) of conftest.edges: PyG's forward after its graph is built."""
    from ase.data import atomic_numbers

    dtype = model.rbf.freq.dtype
    i, j, shifts, _ = edges(atoms, model.cutoff)
    i, j = torch.from_numpy(i), torch.from_numpy(j)
    positions = torch.tensor(atoms.positions, dtype=dtype, requires_grad=True)
    cell = torch.tensor(np.asarray(atoms.cell[:]), dtype=dtype)
    vectors = positions[j] - positions[i] + torch.from_numpy(shifts).to(dtype) @ cell  # r_j - r_i
    z = torch.tensor([atomic_numbers[s] for s in atoms.get_chemical_symbols()], dtype=torch.int64)
    idx_kj, idx_ji = pyg_triplets(i, j, len(atoms))
    P = pyg_atom_outputs(model, z, i, j, vectors, idx_kj, idx_ji)
    energy = P.sum()
    (gradient,) = torch.autograd.grad(energy, positions)
    return float(energy.detach()), P.detach()[:, 0].double().numpy(), (-gradient).detach().double().numpy()


def pyg_atom_outputs(model, z, i, j, vectors, idx_kj, idx_ji):
    """PyG's DimeNet++ forward after its graph is built (DimeNet.forward, DimeNet++
    branch) on edges (centre i, neighbour j, vectors r_j - r_i) and PyG's triplets:
    the per-atom values P [N, out_channels] that it sums over atoms."""
    # pos[i] - pos[j] in DimeNet.forward is -vectors
    dist = vectors.pow(2).sum(dim=-1).sqrt()
    pos_ij = -vectors[idx_ji]  # pos_i - pos_j
    pos_jk = -vectors[idx_kj]  # pos_j - pos_k
    a = (pos_ij * pos_jk).sum(dim=-1)
    b = torch.cross(pos_ij, pos_jk, dim=1).norm(dim=-1)
    angle = torch.atan2(b, a)
    rbf = model.rbf(dist)
    sbf = model.sbf(dist, angle, idx_kj)
    x = model.emb(z, rbf, i, j)
    P = model.output_blocks[0](x, rbf, i, num_nodes=len(z))
    for interaction_block, output_block in zip(model.interaction_blocks, model.output_blocks[1:]):
        x = interaction_block(x, rbf, sbf, idx_kj, idx_ji)
        P = P + output_block(x, rbf, i, num_nodes=len(z))
    return P


def equipot_atom_energies(model, atoms):
    index = {symbol: k for k, symbol in enumerate(model.elements)}
    dtype = next(model.parameters()).dtype
    i, j, shifts, _ = edges(atoms, model.cutoff)
    positions = torch.tensor(atoms.positions, dtype=dtype)
    cell = torch.tensor(np.asarray(atoms.cell[:]), dtype=dtype)
    vectors = positions[j] - positions[i] + torch.from_numpy(shifts).to(dtype) @ cell
    species = torch.tensor([index[s] for s in atoms.get_chemical_symbols()])
    with torch.no_grad():
        return model(species, torch.stack([torch.from_numpy(i), torch.from_numpy(j)]), vectors).double().numpy()


@pytest.fixture(scope="module")
def pyg():
    return pyg_model()


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_converted_model_matches_pyg(pyg, name):
    build, elements = STRUCTURES[name]
    atoms = build()
    model = convert("torch-geometric", pyg, elements=elements)
    assert model.reference_quirks and model.cutoff == CUTOFF and model.num_layers == 3
    # Measured: 2e-16..4e-15 (energies), 1e-14 (forces). With equipot's own exact
    # roots instead of PyG's float32-rounded ones it would be 1e-8..2e-7.
    _assert_converted_matches(model, atoms, pyg_energy_forces(pyg, atoms), 1e-11)


def _assert_converted_matches(model, atoms, reference, rtol):
    """The converted `model`, and its TorchScript (what export freezes), give the
    peer's non-trivial `reference` (energy, per-atom energies, forces) to `rtol`."""
    e_ref, atom_ref, f_ref = reference
    e, f = equipot_energy_forces(model, atoms)
    assert np.abs(f_ref).max() > 1e-3 and abs(e_ref) > 1e-3, "the reference must be non-trivial"
    assert_close_relative(e, e_ref, rtol)
    assert_close_relative(f, f_ref, rtol)
    assert_close_relative(equipot_atom_energies(model, atoms), atom_ref, rtol)
    assert_close_relative(equipot_atom_energies(torch.jit.script(model), atoms), atom_ref, rtol)


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_triplet_rules_agree_on_these_structures(name):
    """PyG drops every k = i, equipot only the reverse edge: the same sets here."""
    build, _ = STRUCTURES[name]
    atoms = build()
    i, j, _, vectors = edges(atoms, CUTOFF)
    kj, ji = pyg_triplets(torch.from_numpy(i), torch.from_numpy(j), len(atoms))
    ours_kj, ours_ji = equipot_triplets(torch.from_numpy(np.stack([i, j])), torch.from_numpy(vectors), len(atoms))
    assert len(kj) > 0
    assert sorted(zip(kj.tolist(), ji.tolist())) == sorted(zip(ours_kj.tolist(), ours_ji.tolist()))


def _radius_graph(pos, r, batch=None, max_num_neighbors=32, **_):
    distance = torch.cdist(pos, pos)
    distance.fill_diagonal_(float("inf"))
    assert int((distance < r).sum(1).max()) <= max_num_neighbors
    target, source = torch.nonzero(distance < r, as_tuple=True)
    return torch.stack([source, target])  # PyG: row 0 source j, row 1 target i


def _triplets(edge_index, num_nodes):
    row, col = edge_index  # j -> i
    kj, ji = pyg_triplets(col, row, num_nodes)
    return col, row, col[ji], row[ji], row[kj], kj, ji


def _assert_pygs_forward_gives(model, atoms, energy, forces, rtol):
    """PyG's own forward, model(z, positions), on the molecule `atoms` gives `energy`
    (to 1e-12 relative) and `forces` (to `rtol`)."""
    from ase.data import atomic_numbers

    z = torch.tensor([atomic_numbers[s] for s in atoms.get_chemical_symbols()])
    positions = torch.tensor(atoms.positions, dtype=torch.float64, requires_grad=True)
    total = model(z, positions).sum()
    (gradient,) = torch.autograd.grad(total, positions)
    assert abs(float(total.detach()) - energy) <= 1e-12 * abs(energy)
    assert_close_relative(-gradient.numpy(), forces, rtol)


@pytest.mark.parametrize("name", ["cuni_cluster", "water"])
def test_driven_path_is_pygs_forward(pyg, name, monkeypatch):
    """On molecules PyG's real forward (with pure-torch radius_graph and triplets in
    place of torch-cluster and torch-sparse) gives what pyg_energy_forces does."""
    monkeypatch.setattr(pyg_dimenet, "radius_graph", _radius_graph)
    monkeypatch.setattr(pyg_dimenet, "triplets", _triplets)
    atoms = STRUCTURES[name][0]()
    e_driven, _, f_driven = pyg_energy_forces(pyg, atoms)
    _assert_pygs_forward_gives(pyg, atoms, e_driven, f_driven, 1e-11)


def test_saved_files_convert(tmp_path):
    """PyG's DimeNet++ cannot be pickled whole (its sympy-lambdified functions), so
    users save state dicts: those convert with the cutoff given, the sizes read from
    the shapes. A whole pickled model converts as well (here made picklable by
    dropping those functions, which the converter does not use)."""
    import pickle

    pyg = pyg_model(seed=3, num_before_skip=2, num_after_skip=1, num_output_layers=2, envelope_exponent=6)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        torch.save(pyg, tmp_path / "whole.pt")
    path = tmp_path / "dimenet_pp.pt"
    torch.save(pyg.state_dict(), path)
    with pytest.raises(ValueError, match="cutoff"):
        convert_file("torch-geometric", str(path), elements=["H", "O"])
    model = convert_file("torch-geometric", str(path), elements="H,O", cutoff=CUTOFF, envelope_exponent=6)
    hyper = model.hyperparameters()
    assert hyper["num_before_skip"] == 2 and hyper["num_after_skip"] == 1 and hyper["num_output_layers"] == 2
    assert hyper["envelope_exponent"] == 6 and hyper["activation"] == "silu" and hyper["reference_quirks"]
    atoms = water_cluster()
    e_ref, _, f_ref = pyg_energy_forces(pyg, atoms)
    e, f = equipot_energy_forces(model, atoms)
    assert_close_relative(e, e_ref, 1e-11)
    assert_close_relative(f, f_ref, 1e-11)
    # nested in a Lightning-style checkpoint with a key prefix
    torch.save({"state_dict": {f"model.{k}": v for k, v in pyg.state_dict().items()}, "epoch": 3}, path)
    again = convert_file("torch-geometric", str(path), elements=["H", "O"], cutoff=CUTOFF, envelope_exponent=6)
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    # the whole model
    pyg.sbf.bessel_funcs, pyg.sbf.sph_funcs = [], []
    torch.save(pyg, path)
    whole = convert_file("torch-geometric", str(path), elements=["H", "O"])
    assert whole.hyperparameters() == hyper
    for (name, a), (_, b) in zip(model.state_dict().items(), whole.state_dict().items()):
        assert torch.equal(a, b), name


def test_float32_model_converts_to_float32():
    _assert_float32_conversion(pyg_model(dtype=torch.float32), pyg_energy_forces, cuni_cluster(), ["Cu", "Ni"])


def _assert_float32_conversion(pyg, energy_forces, atoms, elements):
    """A float32 PyG model converts to a float32 equipot model that agrees to float32
    round-off; `energy_forces(pyg, atoms)` runs the peer."""
    model = convert("torch-geometric", pyg, elements=elements)
    assert next(model.parameters()).dtype == torch.float32
    e_ref, _, f_ref = energy_forces(pyg, atoms)
    e, f = equipot_energy_forces(model, atoms)
    assert_close_relative(e, e_ref, 1e-5)
    assert_close_relative(f, f_ref, 1e-4)


def test_unsupported_models_are_refused(tmp_path):
    with pytest.raises(ValueError, match="out_channels"):
        convert("torch-geometric", pyg_model(out_channels=2), elements=["H"])
    with pytest.raises(ValueError, match="elements"):
        convert("torch-geometric", pyg_model())
    with pytest.raises(ValueError, match="unknown element"):
        convert("torch-geometric", pyg_model(), elements=["Xx"])
    with pytest.raises(ValueError, match="cutoff"):
        convert("torch-geometric", pyg_model(), elements=["H"], cutoff=6.0)
    with pytest.raises(ValueError, match="activation"):
        convert("torch-geometric", pyg_model(act="relu"), elements=["H"])
    dimenet = DimeNet(hidden_channels=8, out_channels=1, num_blocks=1, num_bilinear=2, num_spherical=2,
                      num_radial=2, cutoff=CUTOFF)
    with pytest.raises(ValueError, match="not \\+\\+"):
        convert("torch-geometric", dimenet, elements=["H"])
    path = tmp_path / "dimenet.pt"
    torch.save(dimenet.state_dict(), path)
    with pytest.raises(ValueError, match="not \\+\\+"):
        convert_file("torch-geometric", str(path), elements=["H"], cutoff=CUTOFF)


# ---------------------------------------------------------------------------------
# SchNet

SCHNET_SIZES = dict(hidden_channels=16, num_filters=12, num_interactions=3, num_gaussians=10, cutoff=CUTOFF)


def pyg_schnet(seed=0, dtype=torch.float64, outputs=False, **overrides):
    """A PyG SchNet with every parameter perturbed; `outputs` adds atomref, mean,
    std and scale (what from_qm9_pretrained sets)."""
    torch.manual_seed(seed)
    extra = {}
    if outputs:
        extra = dict(mean=-0.3, std=1.7, atomref=torch.randn(100, 1))
    model = SchNet(**{**SCHNET_SIZES, **extra, **overrides})
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    if outputs:
        model.scale = 0.8
    return model.to(dtype).eval()


class GivenEdges(torch.nn.Module):
    """PyG SchNet's interaction_graph with our edges: (edge_index in PyG's source ->
    target order, lengths from the positions so that autograd reaches them)."""

    def __init__(self, i, j, offsets):
        super().__init__()
        self.i, self.j, self.offsets = i, j, offsets
        self.edge_index = torch.stack([j, i])  # message j -> i, summed at i

    def forward(self, pos, batch):
        return self.edge_index, (pos[self.j] - pos[self.i] + self.offsets).norm(dim=-1)


def pyg_schnet_energy_forces(model, atoms):
    """Energy, per-atom energies and forces of PyG's SchNet forward on the edges of
    conftest.edges (per-atom energies: the same forward with every atom its own
    graph, which its readout then leaves apart)."""
    from ase.data import atomic_numbers

    dtype = model.lin1.weight.dtype
    i, j, shifts, _ = edges(atoms, model.cutoff)
    i, j = torch.from_numpy(i), torch.from_numpy(j)
    cell = torch.tensor(np.asarray(atoms.cell[:]), dtype=dtype)
    z = torch.tensor([atomic_numbers[s] for s in atoms.get_chemical_symbols()], dtype=torch.int64)
    positions = torch.tensor(atoms.positions, dtype=dtype, requires_grad=True)
    graph = model.interaction_graph
    model.interaction_graph = GivenEdges(i, j, torch.from_numpy(shifts).to(dtype) @ cell)
    try:
        energy = model(z, positions).sum()
        (gradient,) = torch.autograd.grad(energy, positions)
        with torch.no_grad():
            per_atom = model(z, positions, batch=torch.arange(len(atoms)))[:, 0]
    finally:
        model.interaction_graph = graph
    return float(energy.detach()), per_atom.double().numpy(), (-gradient).detach().double().numpy()


@pytest.fixture(scope="module")
def schnet():
    return pyg_schnet()


@pytest.mark.parametrize("outputs", [False, True], ids=["plain", "atomref_mean_std_scale"])
@pytest.mark.parametrize("name", list(STRUCTURES))
def test_converted_schnet_matches_pyg(name, outputs):
    build, elements = STRUCTURES[name]
    atoms = build()
    pyg = pyg_schnet(outputs=outputs)
    model = convert("torch-geometric", pyg, elements=elements)
    assert model.architecture == "schnet" and model.cutoff == CUTOFF and model.num_layers == 3
    # Measured: <= 7e-16 (energies), <= 2e-15 (per-atom energies), <= 1.3e-15
    # (forces). Without folding PyG's float32-rounded ln 2 into the biases (see the
    # converter): 4e-10..5e-7 (energies), 3e-9..1.5e-8 (forces).
    _assert_converted_matches(model, atoms, pyg_schnet_energy_forces(pyg, atoms), 1e-12)


@pytest.mark.parametrize("name", ["cuni_cluster", "water"])
def test_schnet_driven_path_is_pygs_forward(schnet, name, monkeypatch):
    """On molecules PyG's SchNet with its own radius graph (a pure-torch radius_graph
    in place of torch-cluster's) gives what pyg_schnet_energy_forces does."""
    monkeypatch.setattr(pyg_schnet_module, "radius_graph", _radius_graph)
    atoms = STRUCTURES[name][0]()
    e_driven, _, f_driven = pyg_schnet_energy_forces(schnet, atoms)
    _assert_pygs_forward_gives(schnet, atoms, e_driven, f_driven, 1e-12)


def test_schnet_saved_files_convert(tmp_path):
    """A whole pickled PyG SchNet records everything; its state dict records neither
    mean, std nor scale (given here) and not the cutoff (read from the Gaussians)."""
    pyg = pyg_schnet(seed=4, outputs=True)
    atoms = cuni_periodic()
    e_ref, _, f_ref = pyg_schnet_energy_forces(pyg, atoms)
    path = tmp_path / "schnet.pt"
    torch.save(pyg, path)
    whole = convert_file("torch-geometric", str(path), elements=["Cu", "Ni"])
    e, f = equipot_energy_forces(whole, atoms)
    assert_close_relative(e, e_ref, 1e-12)
    assert_close_relative(f, f_ref, 1e-12)
    torch.save({"state_dict": {f"model.{k}": v for k, v in pyg.state_dict().items()}, "epoch": 3}, path)
    model = convert_file("torch-geometric", str(path), elements="Cu,Ni", mean=-0.3, std=1.7, scale=0.8)
    assert model.hyperparameters() == whole.hyperparameters()
    for (name, a), (_, b) in zip(whole.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="both mean and std"):
        convert_file("torch-geometric", str(path), elements="Cu,Ni", mean=-0.3)
    with pytest.raises(ValueError, match="Gaussians end at"):
        convert_file("torch-geometric", str(path), elements="Cu,Ni", cutoff=4.0)
    # a cutoff that is not a float32 number comes back as written
    torch.save(pyg_schnet(cutoff=3.7, dtype=torch.float32).state_dict(), path)
    assert convert_file("torch-geometric", str(path), elements=["H"]).cutoff == 3.7


def test_float32_schnet_converts_to_float32():
    _assert_float32_conversion(pyg_schnet(dtype=torch.float32, outputs=True), pyg_schnet_energy_forces,
                               water_cluster(), ["H", "O"])


def test_unrepresentable_schnets_are_refused():
    with pytest.raises(ValueError, match="readout"):
        convert("torch-geometric", pyg_schnet(readout="mean"), elements=["H"])
    with pytest.raises(ValueError, match="dipole"):
        convert("torch-geometric", pyg_schnet(dipole=True), elements=["H"])
    with pytest.raises(ValueError, match="interaction_graph"):
        convert("torch-geometric", pyg_schnet(interaction_graph=lambda pos, batch: None), elements=["H"])
    with pytest.raises(ValueError, match="interaction_graph"):
        convert("torch-geometric", pyg_schnet(max_num_neighbors=8,
                                              interaction_graph=pyg_schnet_module.RadiusInteractionGraph(5.0)),
                elements=["H"])
    model = pyg_schnet()
    model.interactions[1].act = torch.nn.Tanh()
    with pytest.raises(ValueError, match="interactions.1.act"):
        convert("torch-geometric", model, elements=["H"])
    with pytest.raises(ValueError, match="envelope_exponent"):
        convert("torch-geometric", pyg_schnet(), elements=["H"], envelope_exponent=5)
    with pytest.raises(ValueError, match="mean"):
        convert("torch-geometric", pyg_model(), elements=["H"], mean=1.0)
    with pytest.raises(ValueError, match="std"):
        convert("torch-geometric", pyg_schnet(), elements=["H"], std=2.0)  # the model has none
    with pytest.raises(ValueError, match="cutoff"):
        convert("torch-geometric", pyg_schnet(), elements=["H"], cutoff=5.0)


# ---------------------------------------------------------------------------------
# the command line


def test_cli_converts_state_dicts(tmp_path, capsys):
    pyg = pyg_model(seed=5)
    path, out = tmp_path / "dimenet_pp.pt", tmp_path / "checkpoint.pt"
    torch.save(pyg.state_dict(), path)
    assert cli.main(["convert", str(path), "--from", "torch-geometric", "--elements", "H,O", "-o", str(out)]) == 1
    assert "cutoff" in capsys.readouterr().err
    assert cli.main(["convert", str(path), "--from", "torch-geometric", "--elements", "H,O", "--cutoff",
                     str(CUTOFF), "-o", str(out)]) == 0
    saved = torch.load(out, weights_only=False)
    assert saved["architecture"] == "dimenet++" and saved["elements"] == ["H", "O"]
    assert saved["hyperparameters"]["cutoff"] == CUTOFF
    torch.save(pyg_schnet(seed=6).state_dict(), path)
    assert cli.main(["convert", str(path), "--from", "torch-geometric", "--elements", "Cu, Ni", "-o", str(out)]) == 0
    saved = torch.load(out, weights_only=False)
    assert saved["architecture"] == "schnet" and saved["hyperparameters"]["cutoff"] == CUTOFF


@pytest.mark.parametrize("source", ["schnetpack", "torchmd-net"])
def test_cli_refuses_options_a_source_does_not_take(tmp_path, capsys, source):
    code = cli.main(["convert", str(tmp_path / "model.pt"), "--from", source, "--elements", "H",
                     "--cutoff", "5", "-o", str(tmp_path / "out.pt")])
    assert code == 1
    error = capsys.readouterr().err
    assert "--cutoff" in error and source in error and "Traceback" not in error


def test_cli_help_says_who_needs_what(capsys):
    with pytest.raises(SystemExit):
        cli.main(["convert", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--cutoff" in text and "DimeNet++ state dict" in text and "schnetpack: --elements" in text
