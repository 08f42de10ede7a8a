"""Energy+forces time of each equipot architecture against its reference
implementation ("peer"), with the same weights, on the same structures and the
same edges, interleaved in one process.

    .venv-peers/bin/python benchmarks/bench_peers.py [--json results.json]
    .venv-peers/bin/python benchmarks/bench_peers.py --quick      # smoke test, ~1 min
    .venv-peers/bin/python benchmarks/bench_peers.py --format aoti   # equipot's compiled package (format 2)

Pairs (architecture: peer package):
    schnet     schnetpack 2.1 NeuralNetworkPotential(SchNet), torch-geometric SchNet
    painn      schnetpack 2.1 NeuralNetworkPotential(PaiNN)
    dimenet++  torch-geometric DimeNetPlusPlus
    tensornet  torchmd-net 3.1 TorchMD_Net(TensorNet)
    nequip     nequip 0.19 NequIPGNNModel (eager, as its ASE calculator runs it)
    equiformer_v2  fairchem-core 1.10 EquiformerV2Backbone + EqV2ScalarHead (eager)

What is measured, per (architecture, peer, structure size, dtype, threads):
- The peer model is built with the published default hyperparameters (see
  DEFAULTS; `--hp schnet.features=64` overrides one), its parameters perturbed from
  their initialisation (so that every weight matters in the agreement check), in
  the row's dtype. The equipot model is `equipot.convert.convert(peer, ...)` of that
  very model: the same weights.
- The structure is Cu-Ni fcc (a = 3.6 A, about 40% Ni at random, rattled 0.05 A,
  periodic). Its edges (every ordered pair within the cutoff, with the cell shifts
  of periodic images) are built once by ASE's `primitive_neighbor_list` and fed to
  both sides: neither side builds a neighbour list inside the timed call.
- Peer call: what a user of that package runs, with forces from the package's own
  autograd: positions in, energy and forces out (schnetpack: the NNP with a
  `Forces` output and inputs idx_i/idx_j/offsets from our edge list;
  torch-geometric SchNet: the model with our edges standing in for its radius
  graph, forces = -dE/dpositions; torch-geometric DimeNet++: the rest of its
  forward after the graph on our edges and on its triplets, which are built once
  per structure outside the timed call (its own builder needs torch-sparse, not
  installable here), which favours the peer; torchmd-net: TorchMD_Net with
  derivative=True and our edges plus its self-loops standing in for its neighbour
  list).
- equipot call: the model as the C++ core runs it, here from Python because the
  core is not built in `.venv-peers`. `load_like_core` does what `export_model`
  (`equipot.export.freeze`) and the core's `Model(path)` do: the model in the
  row's dtype, eval, parameters without requires_grad, `torch.jit.freeze(model.
  script())`, saved and loaded back, then ONE CALL UNDER torch.no_grad() on a
  two-atom graph (the core's validation call at load; it matters: TorchScript's
  profiling executor specialises on what it sees first). Each timed call then
  computes the edge vectors r_j - r_i + shift from the positions, runs the module
  with autograd through the edge vectors, sums the per-atom energies in float64
  and assembles the forces from the edge gradients g_e exactly as the core does:
  F_i += g_e, F_j -= g_e (index_add).
- First calls: the energies of both sides are compared (max relative difference
  printed; the run aborts if it exceeds 1e-4 in float32 or 1e-8 in float64, 1e-7
  for torchmd-net, whose Warp norm kernel uses float32 constants); the forces'
  relative difference is printed too. (torch-geometric SchNet agrees to ~2e-9 in
  float64, not 1e-15: its shifted softplus subtracts log 2 rounded to float32.)
- Then `--warmup` untimed calls of each, then `--repeats` timed calls alternating
  peer, equipot, peer, equipot, ... (so that drifts in machine load hit both
  alike); the medians are reported with ratio = equipot / peer (target <= 0.67),
  and next to it "best", the ratio of the fastest calls: on this VM, calls that
  allocate hundreds of MB now and then stall on first-touch page faults for several
  times their normal duration, and the fastest call is the steadier estimate.
- Threads are set with torch.set_num_threads; the load average is printed at the
  start and at the end (and stored per row in the JSON): compare runs only from a
  quiet machine.

EquiformerV2 (fairchem-core 1.10, the last release with models/equiformer_v2, kept
in .venv-peers/fairchem-core-1.10 by scripts/setup_peers_env.sh): OC20's 12 blocks,
l_max 6 and 128 channels are far too big for a small CPU machine; DEFAULTS halves the
widths and takes 4 blocks, l_max 4, m_max 2, 5 A, with OC20's activations (separable
S2 activation, grid MLP in the feed-forward networks; `--hp equiformer_v2.gate=1` for
the gate activation). The peer's forces are autograd of its energy (no direct force
head), which, as it detaches its Wigner matrices, is not the full gradient: only the
energies are compared. Its edge frames have a random roll on every call (equiformer_v2
issue #17), so for the agreement check (only) its frame function is replaced by
equipot's, with which tests/peers/test_equiformer_v2_parity.py shows agreement to
round-off; the timed calls run its own. Each peer call runs with torch's default dtype
set to the row's (the reference builds its Wigner matrices in the default dtype). Default
sizes 32 and 108 atoms (--equiformer-sizes): its per-edge features [E, (l_max+1)^2, C]
make larger boxes slow and GBs large on a 2-core machine.

DimeNet++ keeps one message per triplet (~1,700 per atom here), so it runs on
smaller boxes by default (--dimenet-sizes 108,256); its boxes must be at least
twice the cutoff wide (108 atoms and up at 5 A), or PyG's triplet rule (every
k = i dropped) and equipot's (only the reverse edge dropped) select different
triplets.

A peer that cannot be built or run (package missing, converter refusing it) is
reported with the reason and skipped; everything else still runs.
"""

import argparse
import copy
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from ase.build import bulk

# The peer-parity tests hold the tested ways of running each peer on our edges:
# reuse them (tests/peers/conftest.py, test_torchmdnet_parity.py, ...).
REPOSITORY = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path[:0] = [os.path.join(REPOSITORY, "tests", "peers"), REPOSITORY]

from conftest import edges as build_edges  # noqa: E402  (ASE primitive_neighbor_list)

from equipot.convert import convert  # noqa: E402
from equipot.dtypes import DTYPE_NAMES, default_dtype, torch_dtype  # noqa: E402

ELEMENTS = ["Cu", "Ni"]
ENERGY_RTOL = {torch.float32: 1e-4, torch.float64: 1e-8}
TARGET_RATIO = 0.67

# Published default hyperparameters (see /work/shared/REFERENCES.md), by our names.
DEFAULTS: Dict[str, Dict[str, float]] = {
    "schnet": dict(features=128, interactions=3, gaussians=50, cutoff=5.0),
    "painn": dict(features=128, interactions=3, radial=20, cutoff=5.0),
    # klicperajo/dimenet config_pp.yaml
    "dimenet++": dict(hidden=128, out_emb=256, int_emb=64, basis_emb=8, blocks=4, spherical=7, radial=6,
                      cutoff=5.0, envelope_exponent=5),
    "tensornet": dict(channels=128, layers=2, rbf=32, cutoff=4.5),
    # nequip 0.19 NequIPGNNModel defaults
    "nequip": dict(layers=4, l_max=1, features=32, parity=1, radial_width=128, bessels=8, cutoff=5.0),
    # fairchem OC20 EquiformerV2 (12 blocks, l_max 6, m_max 2, 128 channels, 8 heads of 32 + 16,
    # FFN 512, edges 128, 12 A) scaled to a CPU: 4 blocks, l_max 4, half the widths, 5 A.
    # gate=0: separable S2 activation with the grid MLP, as OC20; gate=1: the gate activation.
    "equiformer_v2": dict(blocks=4, l_max=4, m_max=2, channels=64, heads=8, alpha=16, value=8, ffn=256, edge=64,
                          cutoff=5.0, gate=0),
}
DEFAULT_SIZES = [256, 2048]
# DimeNet++ keeps a message per triplet: ~42 neighbours within 5 A in this fcc
# alloy make ~1,700 triplets per atom, so 2,048 atoms would need tens of GB and
# minutes per call on a small CPU machine. Its default sizes are smaller.
DEFAULT_DIMENET_SIZES = [108, 256]
DEFAULT_EQUIFORMER_SIZES = [32, 108]


class PeerUnavailable(Exception):
    """This peer cannot be built or run here; the message says why."""


# ---------------------------------------------------------------------------------
# Structures and their edges


@dataclass
class Structure:
    """A periodic Cu-Ni box and its edge list for one cutoff (built once)."""

    atoms: object
    cutoff: float
    i: torch.Tensor  # centre atoms [E]
    j: torch.Tensor  # neighbour atoms [E]
    shifts: torch.Tensor  # integer cell offsets of j's image [E, 3] (float64)

    @property
    def num_atoms(self) -> int:
        return len(self.atoms)

    @property
    def num_edges(self) -> int:
        return int(self.i.shape[0])

    def positions(self, dtype) -> torch.Tensor:
        return torch.tensor(self.atoms.positions, dtype=dtype)

    def cell(self, dtype) -> torch.Tensor:
        return torch.tensor(np.asarray(self.atoms.cell[:]), dtype=dtype)

    def offsets(self, dtype) -> torch.Tensor:
        """Cartesian offsets of j's image, shifts @ cell (computed in float64)."""
        return (self.shifts @ self.cell(torch.float64)).to(dtype)

    def numbers(self) -> torch.Tensor:
        return torch.tensor(self.atoms.numbers, dtype=torch.int64)


def cuni_fcc(num_atoms: int, seed: int = 0):
    """Cu-Ni fcc, a = 3.6 A, about 40% Ni at random, rattled by 0.05 A, periodic;
    num_atoms must be 4 n^3 (32, 108, 256, 500, 864, 2048, ...)."""
    cells = round((num_atoms / 4) ** (1 / 3))
    if 4 * cells**3 != num_atoms:
        raise SystemExit(f"--sizes: {num_atoms} is not 4 n^3 (an n x n x n cubic fcc box), e.g. 256 or 2048")
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((cells, cells, cells))
    rng = np.random.default_rng(seed)
    atoms.symbols[rng.random(len(atoms)) < 0.4] = "Ni"
    atoms.rattle(0.05, seed=seed)
    return atoms


_STRUCTURES: Dict[Tuple[int, float], Structure] = {}


def structure(num_atoms: int, cutoff: float) -> Structure:
    key = (num_atoms, float(cutoff))
    if key not in _STRUCTURES:
        atoms = cuni_fcc(num_atoms)
        i, j, shifts, _ = build_edges(atoms, cutoff)
        _STRUCTURES[key] = Structure(
            atoms, float(cutoff), torch.from_numpy(i), torch.from_numpy(j), torch.from_numpy(shifts).double()
        )
    return _STRUCTURES[key]


# ---------------------------------------------------------------------------------
# equipot, run as the C++ core runs it

Call = Callable[[], Tuple[torch.Tensor, torch.Tensor]]  # () -> (energy, forces)


def load_like_core(model, dtype) -> torch.jit.ScriptModule:
    """The module the C++ core would run for `model` exported in `dtype`: what
    equipot.export.freeze does (that module imports the core, absent here), a round
    trip through a file's bytes, and the core's no-grad validation call on a
    two-atom graph (Model::check_forward in cpp/src/model.cpp), run like every core
    evaluation with the graph executor's optimisations off."""
    model = copy.deepcopy(model).to(dtype).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        frozen = torch.jit.freeze(model.script())
    buffer = io.BytesIO()
    torch.jit.save(frozen, buffer)
    buffer.seek(0)
    module = torch.jit.load(buffer)
    r = 0.5 * model.cutoff
    with torch.no_grad(), torch.jit.optimized_execution(False):
        module(
            torch.zeros(2, dtype=torch.int64),
            torch.tensor([[0, 1], [1, 0]], dtype=torch.int64),
            torch.tensor([[r, 0.0, 0.0], [-r, 0.0, 0.0]], dtype=dtype),
        )
    return module


def equipot_call(module, elements: List[str], s: Structure, dtype) -> Call:
    """One energy+forces evaluation as Model::evaluate does it, from positions (with
    the graph executor's optimisations off, as its GraphOptimizerEnabledGuard does)."""
    index = {symbol: k for k, symbol in enumerate(elements)}
    species = torch.tensor([index[symbol] for symbol in s.atoms.get_chemical_symbols()], dtype=torch.int64)
    edge_index = torch.stack([s.i, s.j])
    positions, offsets = s.positions(torch.float64), s.offsets(torch.float64)

    def call():
        vectors = (positions[s.j] - positions[s.i] + offsets).to(dtype).requires_grad_(True)
        with torch.jit.optimized_execution(False):
            energy = module(species, edge_index, vectors).to(torch.float64).sum()
        (gradient,) = torch.autograd.grad([energy], [vectors])
        gradient = gradient.to(torch.float64)
        forces = torch.zeros(s.num_atoms, 3, dtype=torch.float64)
        forces.index_add_(0, s.i, gradient).index_add_(0, s.j, -gradient)
        return energy.detach(), forces

    return call


def compiled_like_core(model, dtype_name: str, folder: str):
    """The format-2 package export_model --format aoti writes for `model` (compiled
    here, as the exporter does), loaded with torch's AOTInductor loader, the one the
    C++ core uses."""
    from equipot.export import compile_aoti, metadata_of

    path = os.path.join(folder, f"{model.architecture}_{dtype_name}.pt2")
    compile_aoti(model, dtype_name, path, metadata_of(model, dtype_name, file_format="aoti"))
    return torch._inductor.aoti_load_package(path)


def compiled_call(package, elements: List[str], s: Structure, dtype) -> Call:
    """One energy+forces evaluation as Model::evaluate does it with a package: one call
    returns the energies and edge gradients (no autograd), then the same assembly."""
    index = {symbol: k for k, symbol in enumerate(elements)}
    species = torch.tensor([index[symbol] for symbol in s.atoms.get_chemical_symbols()], dtype=torch.int64)
    edge_index = torch.stack([s.i, s.j]).contiguous()
    positions, offsets = s.positions(torch.float64), s.offsets(torch.float64)
    weights = torch.ones(s.num_atoms, dtype=dtype)

    def call():
        vectors = (positions[s.j] - positions[s.i] + offsets).to(dtype).contiguous()
        with torch.no_grad():
            energies, gradient = package(species, edge_index, vectors, weights)
        energy = energies.to(torch.float64).sum()
        gradient = gradient.to(torch.float64)
        forces = torch.zeros(s.num_atoms, 3, dtype=torch.float64)
        forces.index_add_(0, s.i, gradient).index_add_(0, s.j, -gradient)
        return energy, forces

    return call


# ---------------------------------------------------------------------------------
# Peer runners: one function per peer package. Each builds the peer model for an
# architecture in `dtype`, converts it to equipot, and returns a Peer whose
# `prepare(structure)` gives the call to time.


@dataclass
class Peer:
    model: object  # the peer's own model
    equipot: object  # the converted equipot AtomisticModel (same weights, same dtype)
    prepare: Callable[[Structure], Call]
    energy_rtol: Optional[float] = None  # looser than ENERGY_RTOL only with a stated reason
    note: str = ""
    # For the agreement check only, when it needs another call than the timed one.
    prepare_check: Optional[Callable[[Structure], Call]] = None


def perturb(model, seed: int):
    """Move every parameter away from its initialisation (zero biases, zero output
    layers), so that the agreement check involves every weight."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.add_(0.1 * noise.to(parameter.dtype))
    return model.eval()


def schnetpack_runner(arch: str, hp: Dict, dtype) -> Peer:
    """schnetpack 2.1 NeuralNetworkPotential: PairwiseDistances -> SchNet or PaiNN
    -> Atomwise energy -> Forces (its own autograd), fed our edge list as its
    neighbour list (idx_i = centre, idx_j = neighbour, offsets = shifts @ cell), as
    tests/peers/test_schnetpack_parity.py does."""
    try:
        import schnetpack as spk
        import schnetpack.properties as props
    except ImportError as error:
        raise PeerUnavailable(f"schnetpack is not importable: {error}")
    torch.manual_seed(0)
    cutoff = float(hp["cutoff"])
    if arch == "schnet":
        representation = spk.representation.SchNet(
            n_atom_basis=int(hp["features"]), n_interactions=int(hp["interactions"]),
            radial_basis=spk.nn.GaussianRBF(n_rbf=int(hp["gaussians"]), cutoff=cutoff),
            cutoff_fn=spk.nn.CosineCutoff(cutoff),
        )
    else:
        representation = spk.representation.PaiNN(
            n_atom_basis=int(hp["features"]), n_interactions=int(hp["interactions"]),
            radial_basis=spk.nn.BesselRBF(n_rbf=int(hp["radial"]), cutoff=cutoff),
            cutoff_fn=spk.nn.CosineCutoff(cutoff),
        )
    nnp = spk.model.NeuralNetworkPotential(
        representation=representation,
        input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[
            spk.atomistic.Atomwise(n_in=representation.n_atom_basis, output_key="energy"),
            spk.atomistic.Forces(energy_key="energy", force_key="forces"),
        ],
    )
    nnp = perturb(nnp.to(dtype), seed=1)

    def prepare(s: Structure) -> Call:
        inputs = {
            props.Z: s.numbers(),
            props.R: s.positions(dtype),
            props.cell: s.cell(dtype).unsqueeze(0),
            props.pbc: torch.tensor(s.atoms.pbc).unsqueeze(0),
            props.idx_i: s.i,
            props.idx_j: s.j,
            props.offsets: s.offsets(dtype),
            props.idx_m: torch.zeros(s.num_atoms, dtype=torch.int64),
            props.n_atoms: torch.tensor([s.num_atoms]),
        }

        def call():
            out = nnp(dict(inputs))  # a fresh dict: the NNP adds its own entries
            return out["energy"].detach()[0], out["forces"].detach()

        return call

    return Peer(nnp, _convert_or_explain("schnetpack", nnp), prepare)


class GivenEdges(torch.nn.Module):
    """Stands in for torch-geometric SchNet's `interaction_graph` (a radius graph
    from torch-cluster, which is not installed, and which knows no periodic images):
    our edges, in torch-geometric's source -> target order, and their lengths
    computed from the positions (so that autograd reaches the positions)."""

    def __init__(self, s: Structure, dtype):
        super().__init__()
        self.i, self.j, self.offsets = s.i, s.j, s.offsets(dtype)
        self.edge_index = torch.stack([s.j, s.i])  # message j -> i, summed at i

    def forward(self, pos, batch):
        lengths = torch.linalg.norm(pos[self.j] - pos[self.i] + self.offsets, dim=-1)
        return self.edge_index, lengths


def torch_geometric_schnet_runner(arch: str, hp: Dict, dtype) -> Peer:
    """torch-geometric `SchNet` with our edges as its interaction graph; forces by
    autograd of its energy with respect to the positions."""
    try:
        from torch_geometric.nn.models import SchNet
    except ImportError as error:
        raise PeerUnavailable(f"torch-geometric is not importable: {error}")
    torch.manual_seed(0)
    model = SchNet(
        hidden_channels=int(hp["features"]), num_filters=int(hp["features"]),
        num_interactions=int(hp["interactions"]), num_gaussians=int(hp["gaussians"]), cutoff=float(hp["cutoff"]),
    )
    model = perturb(model.to(dtype), seed=2)
    equipot_model = _convert_or_explain("torch-geometric", model)

    def prepare(s: Structure) -> Call:
        model.interaction_graph = GivenEdges(s, dtype)
        numbers, positions = s.numbers(), s.positions(dtype)

        def call():
            pos = positions.clone().requires_grad_(True)
            energy = model(numbers, pos).sum()
            (gradient,) = torch.autograd.grad([energy], [pos])
            return energy.detach(), -gradient

        return call

    return Peer(model, equipot_model, prepare)


def torch_geometric_dimenet_runner(arch: str, hp: Dict, dtype) -> Peer:
    """torch-geometric `DimeNetPlusPlus` (built and perturbed by `pyg_model` of
    tests/peers/test_torch_geometric_parity.py) run on our edges: its forward builds
    a radius graph (torch-cluster) and triplets (torch-sparse), neither installable
    with torch 2.13, and cannot see periodic images. So the call runs the rest of
    `DimeNet.forward` (`pyg_atom_outputs`: distances, angles, rbf, sbf, embedding,
    interaction and output blocks) on our edges and on PyG's triplets (every k = i dropped, `pyg_triplets`),
    built once per structure outside the timed call, which favours the peer: equipot
    builds its triplets inside every call. Forces by autograd wrt positions."""
    try:
        import test_torch_geometric_parity as parity
    except Exception as error:  # ImportError, or pytest's Skipped when torch-geometric is missing
        raise PeerUnavailable(f"torch-geometric (or its parity helpers) not importable: {error}")
    model = parity.pyg_model(
        seed=0, dtype=dtype, hidden_channels=int(hp["hidden"]), out_channels=1, num_blocks=int(hp["blocks"]),
        int_emb_size=int(hp["int_emb"]), basis_emb_size=int(hp["basis_emb"]), out_emb_channels=int(hp["out_emb"]),
        num_spherical=int(hp["spherical"]), num_radial=int(hp["radial"]), cutoff=float(hp["cutoff"]),
        envelope_exponent=int(hp["envelope_exponent"]),
    )
    equipot_model = _convert_or_explain("torch-geometric", model)

    def prepare(s: Structure) -> Call:
        if min(s.atoms.cell.lengths()) < 2 * s.cutoff:
            print(f"  warning: a {min(s.atoms.cell.lengths()):.1f} A cell is narrower than twice the cutoff: "
                  "PyG's triplet rule (k != i) and equipot's (k -> j -> i not the reverse edge) differ")
        i, j, numbers, positions, offsets = s.i, s.j, s.numbers(), s.positions(dtype), s.offsets(dtype)
        idx_kj, idx_ji = parity.pyg_triplets(i, j, s.num_atoms)

        def call():
            pos = positions.clone().requires_grad_(True)
            vectors = pos[j] - pos[i] + offsets  # PyG's pos[j] - pos[i] with the image shift
            energy = parity.pyg_atom_outputs(model, numbers, i, j, vectors, idx_kj, idx_ji).sum()
            (gradient,) = torch.autograd.grad([energy], [pos])
            return energy.detach(), -gradient

        return call

    return Peer(model, equipot_model, prepare)


def torchmdnet_runner(arch: str, hp: Dict, dtype) -> Peer:
    """torchmd-net 3.1 TorchMD_Net(TensorNet, Scalar head, Atomref prior, std) with
    derivative=True (its own autograd forces), its neighbour list replaced by our
    edges plus its self-loops (`FixedEdges` of tests/peers/test_torchmdnet_parity.py;
    built from the same `conftest.edges`, so they are the edges equipot gets)."""
    try:
        import test_torchmdnet_parity as parity
    except Exception as error:  # ImportError, or pytest's Skipped when torchmd-net is missing
        raise PeerUnavailable(f"torchmd-net (or its parity helpers) not importable: {error}")
    precision = {torch.float32: 32, torch.float64: 64}[dtype]
    model = parity.peer_model(
        seed=0, precision=precision, embedding_dimension=int(hp["channels"]), num_layers=int(hp["layers"]),
        num_rbf=int(hp["rbf"]), cutoff_upper=float(hp["cutoff"]), derivative=True,
    )
    model = model.to(dtype)

    def prepare(s: Structure) -> Call:
        given = parity.FixedEdges(s.atoms, s.cutoff)
        if not (torch.equal(given.i, s.i) and torch.equal(given.j, s.j)):
            raise RuntimeError("torchmd-net's FixedEdges and this benchmark built different edge lists")
        model.representation_model.distance = given
        numbers, positions = s.numbers(), s.positions(dtype)

        def call():
            energy, forces = model(numbers, positions.clone())
            return energy.detach().sum(), forces.detach()

        return call

    # Its Warp `tensor_norm3` kernel uses 1/3 and 2/3 rounded to float32 even in
    # float64, about 1e-8 relative off the exact maths (test_torchmdnet_parity.py).
    rtol = parity.SHIPPED_WARP_RTOL if dtype == torch.float64 else None
    return Peer(model, _convert_or_explain("torchmd-net", model), prepare, energy_rtol=rtol,
                note="float64 agreement to 1e-7: torchmd-net's Warp norm kernel rounds 1/3 to float32")


def nequip_runner(arch: str, hp: Dict, dtype) -> Peer:
    """nequip 0.19 NequIPGNNModel (GraphModel with its ForceStressOutput: its own
    autograd forces), eager, on our edges (`nequip_data` of
    tests/peers/test_nequip_parity.py, built from the same `conftest.edges`)."""
    try:
        import test_nequip_parity as parity
    except Exception as error:  # ImportError, or pytest's Skipped when nequip is missing
        raise PeerUnavailable(f"nequip (or its parity helpers) not importable: {error}")
    from nequip.data import AtomicDataDict

    model = parity.nequip_model(
        model_dtype={torch.float32: "float32", torch.float64: "float64"}[dtype], cutoff=float(hp["cutoff"]),
        num_layers=int(hp["layers"]), l_max=int(hp["l_max"]), num_features=int(hp["features"]),
        parity=bool(hp["parity"]), radial_mlp_width=int(hp["radial_width"]), num_bessels=int(hp["bessels"]),
        avg_num_neighbors=40.0)

    def prepare(s: Structure) -> Call:
        data = parity.nequip_data(model, s.atoms, s.cutoff)
        given = data[AtomicDataDict.EDGE_INDEX_KEY]
        if not (torch.equal(given[0], s.i) and torch.equal(given[1], s.j)):
            raise RuntimeError("the nequip helper and this benchmark built different edge lists")

        def call():
            out = model(dict(data))  # nequip adds its intermediate fields to the dict it is given
            return out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().sum(), out[AtomicDataDict.FORCE_KEY].detach()

        return call

    return Peer(model, _convert_or_explain("nequip", model), prepare)


def fairchem_equiformer_v2_runner(arch: str, hp: Dict, dtype) -> Peer:
    """fairchem-core 1.10 EquiformerV2Backbone + EqV2ScalarHead (sum reduction), eager,
    on our edges (its graph builder replaced by one returning them, as
    tests/peers/test_equiformer_v2_parity.py does), forces by autograd of its energy
    with respect to the positions. Edge vectors r_j - r_i, its edge_index [j, i]."""
    import types as _types

    if not os.path.isdir(os.path.join(sys.prefix, "fairchem-core-1.10")):
        raise PeerUnavailable("fairchem-core 1.10 is not installed (scripts/setup_peers_env.sh)")
    try:
        import test_equiformer_v2_parity as parity  # puts fairchem 1.10 first on sys.path
    except Exception as error:
        raise PeerUnavailable(f"fairchem-core 1.10 (or its parity helpers) not importable: {error}")
    with default_dtype(dtype):  # the reference builds its buffers in the default dtype
        torch.manual_seed(0)
        channels = int(hp["channels"])
        backbone = parity.EquiformerV2Backbone(**parity.backbone_args(
            max_radius=float(hp["cutoff"]), num_layers=int(hp["blocks"]), sphere_channels=channels,
            attn_hidden_channels=channels, num_heads=int(hp["heads"]), attn_alpha_channels=int(hp["alpha"]),
            attn_value_channels=int(hp["value"]), ffn_hidden_channels=int(hp["ffn"]), lmax_list=[int(hp["l_max"])],
            mmax_list=[int(hp["m_max"])], edge_channels=int(hp["edge"]), use_gate_act=bool(hp["gate"]),
            use_sep_s2_act=True, use_grid_mlp=not bool(hp["gate"])))
        head = parity.EqV2ScalarHead(backbone)
        perturb(backbone.to(dtype), seed=3)
        perturb(head.to(dtype), seed=4)
    try:
        equipot_model = convert("fairchem-equiformer-v2", backbone, elements=ELEMENTS, head=head).to(dtype).eval()
    except (ImportError, ValueError, TypeError, NotImplementedError) as error:
        raise PeerUnavailable(f"equipot cannot convert the fairchem EquiformerV2: {error}")
    stock_frames = backbone._init_edge_rot_mat

    def make_call(s: Structure, our_frames: bool) -> Call:
        numbers, positions, offsets = s.numbers(), s.positions(dtype), s.offsets(dtype)
        edge_index = torch.stack([s.j, s.i])
        batch = torch.zeros(s.num_atoms, dtype=torch.int64)

        def call():
            with default_dtype(dtype):
                if our_frames:
                    parity.use_our_edge_frames(backbone)
                else:
                    backbone._init_edge_rot_mat = stock_frames
                pos = positions.clone().requires_grad_(True)
                vectors = pos[s.j] - pos[s.i] + offsets
                graph = parity.GraphData(
                    edge_index=edge_index, edge_distance=torch.linalg.norm(vectors, dim=1),
                    edge_distance_vec=vectors, cell_offsets=None, offset_distances=None,
                    neighbors=torch.tensor([s.num_edges]), batch_full=batch, atomic_numbers_full=numbers,
                    node_offset=0)
                backbone.generate_graph = lambda data, **kwargs: graph
                data = _types.SimpleNamespace(natoms=torch.tensor([s.num_atoms]), pos=pos, atomic_numbers=numbers,
                                              batch=batch)
                energy = head(data, backbone(data))["energy"].sum()
                (gradient,) = torch.autograd.grad([energy], [pos])
            return energy.detach(), -gradient

        return call

    return Peer(backbone, equipot_model, lambda s: make_call(s, False),
                note="forces not compared: the peer detaches its Wigner matrices",
                prepare_check=lambda s: make_call(s, True))


def _convert_or_explain(source: str, model):
    try:
        return convert(source, model, elements=ELEMENTS)
    except (ImportError, ModuleNotFoundError, ValueError, TypeError, NotImplementedError) as error:
        raise PeerUnavailable(f"equipot cannot convert the {source} {type(model).__name__}: {error}")


# architecture -> [(peer name, runner)]
PAIRS: Dict[str, List[Tuple[str, Callable[[str, Dict, torch.dtype], Peer]]]] = {
    "schnet": [("schnetpack", schnetpack_runner), ("torch-geometric", torch_geometric_schnet_runner)],
    "painn": [("schnetpack", schnetpack_runner)],
    "dimenet++": [("torch-geometric", torch_geometric_dimenet_runner)],
    "tensornet": [("torchmd-net", torchmdnet_runner)],
    "nequip": [("nequip", nequip_runner)],
    "equiformer_v2": [("fairchem", fairchem_equiformer_v2_runner)],
}


# ---------------------------------------------------------------------------------
# Measuring


def elapsed(call: Call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def interleaved_times(peer: Call, ours: Call, warmup: int, repeats: int) -> Tuple[List[float], List[float]]:
    """Warm both up, then time peer, equipot, peer, equipot, ... `repeats` each."""
    for _ in range(warmup):
        peer()
        ours()
    peer_times, our_times = [], []
    for _ in range(repeats):
        peer_times.append(elapsed(peer))
        our_times.append(elapsed(ours))
    return peer_times, our_times


def agreement(peer: Call, ours: Call) -> Tuple[float, float]:
    """Relative energy difference and max force difference over max |force|."""
    e_peer, f_peer = peer()
    e_ours, f_ours = ours()
    e_peer, e_ours = float(e_peer), float(e_ours)
    f_peer, f_ours = f_peer.double(), f_ours.double()
    energy = abs(e_ours - e_peer) / max(abs(e_peer), 1e-300)
    forces = float((f_ours - f_peer).abs().max() / f_peer.abs().max().clamp_min(1e-300))
    return energy, forces


def measure_pair(arch, peer_name, runner, hp, sizes, dtypes, threads, args) -> Tuple[List[Dict], List[str]]:
    """Rows for one (architecture, peer) and the reasons for anything skipped."""
    rows, skipped = [], []
    for dtype_name in dtypes:
        dtype = torch_dtype(dtype_name)
        torch.set_num_threads(threads[0])
        try:
            peer = runner(arch, hp, dtype)
        except PeerUnavailable as error:
            skipped.append(f"{arch} vs {peer_name} ({dtype_name}): {error}")
            print(f"skipped: {skipped[-1]}", flush=True)
            continue
        package = None
        if args.format == "aoti":
            started = time.perf_counter()
            package = compiled_like_core(peer.equipot, dtype_name, tempfile.mkdtemp(prefix="bench_peers_"))
            print(f"compiled {arch} ({dtype_name}) in {time.perf_counter() - started:.0f} s", flush=True)
        for num_atoms in sizes:
            s = structure(num_atoms, hp["cutoff"])
            torch.set_num_threads(threads[0])
            try:
                peer_call = peer.prepare(s)
                if package is not None:
                    ours = compiled_call(package, peer.equipot.elements, s, dtype)
                else:
                    ours = equipot_call(load_like_core(peer.equipot, dtype), peer.equipot.elements, s, dtype)
                e_rel, f_rel = agreement(peer.prepare_check(s) if peer.prepare_check else peer_call, ours)
            except (PeerUnavailable, RuntimeError, MemoryError) as error:
                skipped.append(f"{arch} vs {peer_name} ({dtype_name}, {num_atoms} atoms): "
                               f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
                print(f"skipped: {skipped[-1]}", flush=True)
                continue
            tolerance = peer.energy_rtol or ENERGY_RTOL[dtype]
            print(f"{arch} vs {peer_name}, {num_atoms} atoms, {dtype_name}: first call agrees to "
                  f"energy {e_rel:.1e} (limit {tolerance:.0e}), forces {f_rel:.1e}"
                  + (f" [{peer.note}]" if peer.note else ""), flush=True)
            if not e_rel <= tolerance:
                raise SystemExit(f"ABORT: {arch} energies of equipot and {peer_name} differ by {e_rel:.2e} "
                                 f"(> {tolerance:.0e}): the comparison would be meaningless")
            for count in threads:
                torch.set_num_threads(count)
                peer_times, our_times = interleaved_times(peer_call, ours, args.warmup, args.repeats)
                peer_median, our_median = statistics.median(peer_times), statistics.median(our_times)
                row = dict(
                    architecture=arch, peer=peer_name, format=args.format, atoms=s.num_atoms, edges=s.num_edges, dtype=dtype_name,
                    threads=count, peer_s=peer_median, equipot_s=our_median, ratio=our_median / peer_median,
                    ratio_best=min(our_times) / min(peer_times),
                    peer_times_s=peer_times, equipot_times_s=our_times, energy_rel_diff=e_rel,
                    forces_rel_diff=f_rel, loadavg=os.getloadavg()[0],
                )
                print_row(row)
                rows.append(row)
            del peer_call, ours  # free this structure's graphs before the next
    return rows, skipped


HEADER = (f"{'architecture':<10} {'peer':<16} {'atoms':>6} {'edges':>8} {'dtype':<8} {'thr':>3} "
          f"{'peer (ms)':>10} {'equipot (ms)':>12} {'ratio':>6} {'best':>6}  target<={TARGET_RATIO}")


def print_row(row: Dict) -> None:
    met = "yes" if row["ratio"] <= TARGET_RATIO else "no"
    print(f"{row['architecture']:<10} {row['peer']:<16} {row['atoms']:>6} {row['edges']:>8} {row['dtype']:<8} "
          f"{row['threads']:>3} {1e3 * row['peer_s']:>10.2f} {1e3 * row['equipot_s']:>12.2f} "
          f"{row['ratio']:>6.3f} {row['ratio_best']:>6.3f}  {met}", flush=True)


# ---------------------------------------------------------------------------------


def parse_hyperparameters(overrides: List[str]) -> Dict[str, Dict[str, float]]:
    hyper = {arch: dict(values) for arch, values in DEFAULTS.items()}
    for item in overrides:
        try:
            key, value = item.split("=", 1)
            arch, name = key.rsplit(".", 1)
        except ValueError:
            raise SystemExit(f"--hp expects ARCH.NAME=VALUE, got '{item}'")
        if arch not in hyper or name not in hyper[arch]:
            known = ", ".join(f"{a}.{n}" for a, v in DEFAULTS.items() for n in v)
            raise SystemExit(f"--hp: unknown '{key}'; known: {known}")
        hyper[arch][name] = float(value)
    return hyper


def int_list(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default=",".join(PAIRS), help="comma-separated, from: " + ", ".join(PAIRS))
    parser.add_argument("--peers", default="", help="only these peers (comma-separated), e.g. schnetpack")
    parser.add_argument("--sizes", type=int_list, default=DEFAULT_SIZES, help="atoms, 4 n^3 (default 256,2048)")
    parser.add_argument("--dimenet-sizes", type=int_list, default=DEFAULT_DIMENET_SIZES,
                        help="atoms for DimeNet++ (default 108,256: its triplets make larger boxes very slow)")
    parser.add_argument("--equiformer-sizes", type=int_list, default=DEFAULT_EQUIFORMER_SIZES,
                        help="atoms for EquiformerV2 (default 32,108: its per-edge features are large)")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", type=int_list, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls of each side (default 7)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls of each side first (default 3)")
    parser.add_argument("--hp", action="append", default=[], metavar="ARCH.NAME=VALUE",
                        help="override a default hyperparameter, e.g. --hp schnet.features=64 (repeatable)")
    parser.add_argument("--format", choices=["torchscript", "aoti"], default="torchscript",
                        help="equipot's side: the TorchScript file (default) or the compiled package "
                        "(export_model --format aoti; compiled once per architecture and dtype, 15-90 s)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 32 atoms (DimeNet++ 108), 2 repeats, 1 warm-up, "
                        "the first dtype and thread count only")
    args = parser.parse_args(argv)

    archs = [a for a in args.archs.split(",") if a]
    for arch in archs:
        if arch not in PAIRS:
            raise SystemExit(f"unknown architecture '{arch}'; known: {', '.join(PAIRS)}")
    dtypes = [d for d in args.dtypes.split(",") if d]
    for name in dtypes:
        if name not in DTYPE_NAMES:
            raise SystemExit(f"unknown dtype '{name}'")
    sizes, dimenet_sizes, threads = args.sizes, args.dimenet_sizes, args.threads
    equiformer_sizes = args.equiformer_sizes
    if args.quick:
        # DimeNet++ needs a cell at least twice its cutoff (see its runner): 108 atoms.
        sizes, dimenet_sizes, equiformer_sizes = [32], [108], [32]
        args.repeats, args.warmup = 2, 1
        dtypes, threads = dtypes[:1], threads[:1]
    peers = [p for p in args.peers.split(",") if p]
    hyper = parse_hyperparameters(args.hp)

    load_start = os.getloadavg()
    print(f"torch {torch.__version__}, python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    print(f"repeats {args.repeats} (medians), warm-up {args.warmup}, interleaved peer/equipot calls")
    rows, skipped = [], []
    for arch in archs:
        print(f"\n{arch}: " + ", ".join(f"{k} {v:g}" for k, v in hyper[arch].items()), flush=True)
        for peer_name, runner in PAIRS[arch]:
            if peers and peer_name not in peers:
                continue
            arch_sizes = {"dimenet++": dimenet_sizes, "equiformer_v2": equiformer_sizes}.get(arch, sizes)
            print(HEADER, flush=True)
            new_rows, new_skipped = measure_pair(arch, peer_name, runner, hyper[arch], arch_sizes, dtypes,
                                                 threads, args)
            rows.extend(new_rows)
            skipped.extend(new_skipped)
    load_end = os.getloadavg()

    print(f"\nsummary (ratio = equipot time / peer time; target <= {TARGET_RATIO})")
    print(HEADER)
    for row in rows:
        print_row(row)
    for reason in skipped:
        print(f"skipped: {reason}")
    print(f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(dict(
                torch=torch.__version__, cpus=os.cpu_count(), repeats=args.repeats, warmup=args.warmup,
                hyperparameters={a: hyper[a] for a in archs}, loadavg_start=load_start, loadavg_end=load_end,
                target_ratio=TARGET_RATIO, skipped=skipped, rows=rows, argv=sys.argv[1:],
            ), handle, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
