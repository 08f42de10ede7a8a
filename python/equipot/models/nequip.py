"""NequIP, the neural equivariant interatomic potential (Batzner et al., Nat. Commun.
13, 2453 (2022), "E(3)-equivariant graph neural networks for data-efficient and
accurate interatomic potentials"), as nequip 0.19 builds it (`NequIPGNNModel`), on
e3nn's irreducible representations.

Every atom carries features that are direct sums of irreps of O(3): `num_features`
copies of each l = 0..l_max, with both parities (`parity=True`) or only the parity
(-1)^l of the spherical harmonics (`parity=False`). The state starts as a learned
element embedding (scalars, 0e). Each of the `num_layers` convolution layers is
1. a linear map of the features (e3nn Linear, mixing channels within each irrep),
   scaled by 1 / sqrt(average number of neighbours);
2. a tensor product of the neighbour's features with the spherical harmonics Y(r_ij)
   (l <= l_max, e3nn's 'component' normalisation) along every path allowed by the
   selection rules ('uvu': channel-wise), each path's weight per channel given for
   each edge by a radial MLP (one hidden layer of width `radial_mlp_width`, SiLU, no
   biases) of the Bessel basis (2 / rc) sin(n pi r / rc) / r, n = 1..num_bessels,
   times the polynomial cutoff (p = `polynomial_cutoff_p`); summed over neighbours;
3. a linear map to the layer's output irreps, plus a self-interaction: a fully
   connected tensor product of the layer's input features with the element
   embedding (not in the first layer);
4. a gate non-linearity: scalars through SiLU (even) or tanh (odd), each l > 0 irrep
   multiplied by a gate scalar through SiLU/tanh.
The last layer outputs scalars only; a linear readout (no bias) gives per-atom
energies, scaled and shifted per element. Features are built from distances and
spherical harmonics through equivariant maps only, so the energy is invariant under
rotations and reflections (parity is tracked exactly) and the receptive field is
`num_layers` hops.

Defaults are nequip 0.19's `NequIPGNNModel`: 4 layers, l_max 1, parity, 32 features
per irrep, radial MLP 1 x 128, 8 Bessel functions, p = 6, SiLU/tanh gates, no
residual connections. The paper's best rMD17 models use l_max 2-3 and 64 features;
nequip's "S/M/L" presets use parity=False and per-l feature counts
(`num_features_per_l`).

`avg_num_neighbors` left at None is set from the training data (the mean number of
neighbours within the cutoff), as nequip's configs do with `training_data_stats`.

Compared with nequip: no per-edge-type cutoffs, no ZBL pair potential, no
'norm' non-linearity; the converter refuses models that use them.
"""

import contextlib
import copy
import math
from typing import List, Optional

import torch
from torch import nn

from ..nn import MLP, BesselBasis, EdgeTensorProduct, PolynomialEnvelope, undirected_edges
from ..nn.tensor_product import channelwise_paths
from .base import AtomisticModel

# Activations of the gate non-linearity by parity (e3nn needs odd functions for odd
# scalars, so that parity is kept).
EVEN_ACTIVATION = nn.functional.silu
ODD_ACTIVATION = torch.tanh


def _e3nn():
    """e3nn's o3 and nn modules. e3nn >= 0.6 generates eager (torch.fx) code on
    torch >= 2.10; `AtomisticModel.script` below scripts it."""
    import e3nn.nn
    from e3nn import o3

    return o3, e3nn.nn


@contextlib.contextmanager
def _eager_codegen():
    """Build e3nn modules with eager (torch.fx) generated code whatever e3nn's global
    setting (nequip switches it to TorchScript): the model then deep-copies and
    pickles, and `NequIP.script` compiles everything once, at export."""
    import e3nn

    previous = e3nn.get_optimization_defaults()["jit_mode"]
    e3nn.set_optimization_defaults(jit_mode="eager")
    try:
        yield
    finally:
        e3nn.set_optimization_defaults(jit_mode=previous)


def _path_exists(irreps_in1, irreps_in2, ir_out) -> bool:
    """Whether some irrep of irreps_in1 x irreps_in2 contains ir_out (selection rules)."""
    o3, _ = _e3nn()
    ir_out = o3.Irrep(ir_out)
    return any(ir_out in ir1 * ir2 for _, ir1 in o3.Irreps(irreps_in1).simplify()
               for _, ir2 in o3.Irreps(irreps_in2).simplify())


def _forget_derived_buffers(model: nn.Module) -> None:
    """e3nn saves its Clebsch-Gordan tables and output masks with the weights. They
    follow from the irreps: kept out of checkpoints, so that a model built in float64
    keeps exact tables instead of loading float32 ones widened to float64."""
    for module in model.modules():
        for name, _ in module.named_buffers(recurse=False):
            if "_w3j_" in name or name == "output_mask":
                module._non_persistent_buffers_set.add(name)


def _variance_preserving_init(modules: List[nn.Module]) -> None:
    """nequip's initialisation of its scalar MLPs ('forward_weight_init'): weights
    uniform with variance gain^2 / fan_in, gain 1 for a layer fed by the input and
    sqrt(2) for one fed by a SiLU, so that signals keep their size through the radial
    networks and the readout (PyTorch's default is 3x smaller in variance per layer,
    which slowed training here)."""
    linears = [m for module in modules for m in module.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for index, linear in enumerate(linears):
            gain = 1.0 if index == 0 else math.sqrt(2.0)
            bound = math.sqrt(3.0) * gain / math.sqrt(linear.in_features)
            linear.weight.uniform_(-bound, bound)


class Convolution(nn.Module):
    """One interaction: linear -> neighbour-normalised tensor product with Y(r_ij)
    weighted by a radial MLP, summed over neighbours -> linear (+ self-interaction)."""

    def __init__(self, irreps_in, irreps_sh, irreps_out, irreps_node_attrs, num_bessels: int,
                 radial_mlp_depth: int, radial_mlp_width: int, self_interaction: bool):
        super().__init__()
        o3, _ = _e3nn()
        irreps_in, irreps_sh, irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_sh), o3.Irreps(irreps_out)
        self.linear_in = o3.Linear(irreps_in, irreps_in)
        irreps_mid, instructions = channelwise_paths(irreps_in, irreps_sh, irreps_out)
        self.tensor_product = EdgeTensorProduct(irreps_in, irreps_sh, irreps_mid, instructions)
        # The radial MLP's hidden layers, then its output layer, whose rows (one per
        # path and channel, in e3nn's order) are permuted into the tensor product's
        # order when applied.
        self.radial_hidden = MLP([num_bessels] + [radial_mlp_width] * radial_mlp_depth, "silu", bias=False,
                                 activate_last=True) if radial_mlp_depth > 0 else nn.Identity()
        self.radial_out = nn.Linear(radial_mlp_width if radial_mlp_depth > 0 else num_bessels,
                                    self.tensor_product.weight_numel, bias=False)
        self.linear_out = o3.Linear(irreps_mid.simplify(), irreps_out)
        # None when off: TorchScript resolves the test below when it compiles.
        self.self_interaction = o3.FullyConnectedTensorProduct(irreps_in, irreps_node_attrs, irreps_out) \
            if self_interaction else None

    def forward(self, features: torch.Tensor, node_attrs: torch.Tensor, neighbor_norm: torch.Tensor,
                edge_sh: torch.Tensor, edge_basis: torch.Tensor, centre: torch.Tensor,
                neighbour: torch.Tensor, num_pairs: int) -> torch.Tensor:
        """edge_basis holds one row per pair (the first num_pairs edges), the other
        arguments one per directed edge, the reverses of those pairs last."""
        x = self.linear_in(features) * neighbor_norm
        radial_out = self.radial_out.weight.index_select(0, self.tensor_product.weight_columns)
        pair_weights = nn.functional.linear(self.radial_hidden(edge_basis), radial_out)
        weights = torch.cat([pair_weights, pair_weights.narrow(0, 0, num_pairs)])
        summed = self.tensor_product.sum_over_edges(x.index_select(0, neighbour), edge_sh, weights,
                                                    centre, features.shape[0])
        out = self.linear_out(summed)
        if self.self_interaction is not None:
            out = out + self.self_interaction(features, node_attrs)
        return out


class ConvolutionLayer(nn.Module):
    """A convolution followed by the gate non-linearity; its output irreps are those
    of `irreps_hidden` that the selection rules can reach from its input."""

    def __init__(self, irreps_in, irreps_sh, irreps_hidden, irreps_node_attrs, num_bessels: int,
                 radial_mlp_depth: int, radial_mlp_width: int, self_interaction: bool, resnet: bool):
        super().__init__()
        o3, e3nn_nn = _e3nn()
        irreps_in, irreps_hidden = o3.Irreps(irreps_in), o3.Irreps(irreps_hidden)
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_hidden
                             if ir.l == 0 and _path_exists(irreps_in, irreps_sh, ir)])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_hidden
                           if ir.l > 0 and _path_exists(irreps_in, irreps_sh, ir)])
        gate_irrep = "0e" if _path_exists(irreps_in, irreps_sh, "0e") else "0o"
        gates = o3.Irreps([(mul, gate_irrep) for mul, _ in gated])

        def by_parity(irreps):
            return [EVEN_ACTIVATION if ir.p == 1 else ODD_ACTIVATION for _, ir in irreps]

        self.gate = e3nn_nn.Gate(scalars, by_parity(scalars), gates, by_parity(gates), gated)
        self.irreps_out = self.gate.irreps_out
        self.convolution = Convolution(irreps_in, irreps_sh, self.gate.irreps_in.simplify(), irreps_node_attrs,
                                       num_bessels, radial_mlp_depth, radial_mlp_width, self_interaction)
        self.resnet = bool(resnet and (scalars + gated).simplify() == irreps_in)

    def forward(self, features: torch.Tensor, node_attrs: torch.Tensor, neighbor_norm: torch.Tensor,
                edge_sh: torch.Tensor, edge_basis: torch.Tensor, centre: torch.Tensor,
                neighbour: torch.Tensor, num_pairs: int) -> torch.Tensor:
        out = self.gate(self.convolution(features, node_attrs, neighbor_norm, edge_sh, edge_basis, centre, neighbour,
                                         num_pairs))
        return features + out if self.resnet else out


class NequIP(AtomisticModel):
    architecture = "nequip"

    def __init__(
        self,
        elements: List[str],
        cutoff: float = 5.0,
        num_layers: int = 4,
        l_max: int = 1,
        parity: bool = True,
        num_features: int = 32,
        num_features_per_l: Optional[List[int]] = None,
        type_embed_num_features: Optional[int] = None,
        radial_mlp_depth: int = 1,
        radial_mlp_width: int = 128,
        num_bessels: int = 8,
        bessel_trainable: bool = False,
        polynomial_cutoff_p: int = 6,
        avg_num_neighbors: Optional[float] = None,
        readout_mlp_depth: int = 0,
        readout_mlp_width: Optional[int] = None,
        self_interaction: bool = True,
        resnet: bool = False,
    ):
        super().__init__(elements, cutoff, num_layers)
        o3, _ = _e3nn()
        if num_layers < 1 or l_max < 0:
            raise ValueError(f"NequIP needs num_layers >= 1 and l_max >= 0, got {num_layers} and {l_max}")
        multiplicities = list(num_features_per_l) if num_features_per_l is not None else [num_features] * (l_max + 1)
        if len(multiplicities) != l_max + 1:
            raise ValueError(f"num_features_per_l needs l_max + 1 = {l_max + 1} entries, got {multiplicities}")
        embed_width = type_embed_num_features if type_embed_num_features is not None else multiplicities[0]
        irreps_sh = o3.Irreps.spherical_harmonics(l_max)
        parities = lambda l: (1, -1) if parity else ((-1) ** l,)  # noqa: E731
        irreps_hidden = o3.Irreps([(multiplicities[l], (l, p)) for l in range(l_max + 1) for p in parities(l)])
        irreps_node_attrs = o3.Irreps(f"{embed_width}x0e")

        self.embedding = nn.Embedding(len(elements), embed_width)
        with _eager_codegen():
            self.spherical_harmonics = o3.SphericalHarmonics(irreps_sh, normalize=True, normalization="component")
            self.layers = self._build_layers(irreps_node_attrs, irreps_sh, irreps_hidden, multiplicities[0], num_layers,
                                             num_bessels, radial_mlp_depth, radial_mlp_width, self_interaction, resnet)
        self.basis = BesselBasis(num_bessels, cutoff, normalize=False, trainable=bessel_trainable)
        self.basis_prefactor = 2.0 / cutoff  # nequip's normalisation of sin(n pi r / rc) / r
        self.envelope = PolynomialEnvelope(cutoff, polynomial_cutoff_p)
        num_scalars = self.layers[-1].irreps_out.dim
        readout_width = readout_mlp_width if readout_mlp_width is not None else num_scalars
        self.readout = MLP([num_scalars] + [readout_width] * readout_mlp_depth + [1], "silu", bias=False)
        # 1 / sqrt(average number of neighbours) per element (of the neighbour whose
        # features are summed); set from the data when avg_num_neighbors is None.
        self.register_buffer("neighbor_norms", torch.full((len(elements),), (avg_num_neighbors or 1.0) ** -0.5))
        self.normalization_from_data = avg_num_neighbors is None
        # Per-element scale of the readout (nequip's per_type_energy_scales; the base
        # class's energy_scale is one number for all elements).
        self.register_buffer("type_scales", torch.ones(len(elements)))
        # (-1)^l per component of the harmonics: Y(-r) from Y(r)
        signs = torch.cat([torch.full((2 * l + 1,), (-1.0) ** l) for l in range(l_max + 1)])
        self.register_buffer("reversed_sh_signs", signs, persistent=False)
        _forget_derived_buffers(self)
        for layer in self.layers:
            _variance_preserving_init([layer.convolution.radial_hidden, layer.convolution.radial_out])
        _variance_preserving_init([self.readout])

    @staticmethod
    def _build_layers(irreps_node_attrs, irreps_sh, irreps_hidden, num_scalars: int, num_layers: int,
                      num_bessels: int, radial_mlp_depth: int, radial_mlp_width: int, self_interaction: bool,
                      resnet: bool) -> nn.ModuleList:
        o3, _ = _e3nn()
        layers = []
        irreps = irreps_node_attrs
        for index in range(num_layers):
            # The last layer keeps the scalars only. The first has no self-interaction
            # or residual, so an isolated atom's energy is its element's shift.
            target = irreps_hidden if index < num_layers - 1 else o3.Irreps(f"{num_scalars}x0e")
            layer = ConvolutionLayer(irreps, irreps_sh, target, irreps_node_attrs, num_bessels, radial_mlp_depth,
                                     radial_mlp_width, self_interaction and index > 0, resnet and index > 0)
            layers.append(layer)
            irreps = layer.irreps_out
        return nn.ModuleList(layers)

    @torch.jit.unused
    def set_data_statistics(self, mean_num_neighbors: float) -> None:
        """Called by training before the first epoch (see AtomisticModel)."""
        if self.normalization_from_data:
            self.neighbor_norms.fill_(max(mean_num_neighbors, 1.0) ** -0.5)

    @torch.jit.unused
    def script(self) -> torch.jit.ScriptModule:
        from e3nn.util.jit import script

        return script(copy.deepcopy(self))  # e3nn compiles its generated code in place

    def atomic_outputs(
        self, species: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor
    ) -> torch.Tensor:
        # Per-pair work once (equipot.nn.undirected_edges): the radial weights depend on
        # the distance only, and Y_l(-r) = (-1)^l Y_l(r), so the i < j edges stand for
        # their reverses too; the tensor products still run over every directed edge.
        edges, num_pairs = undirected_edges(edge_index)
        first, second = edge_index[0].index_select(0, edges), edge_index[1].index_select(0, edges)
        vectors = edge_vectors.index_select(0, edges)
        centre = torch.cat([first, second.narrow(0, 0, num_pairs)])
        neighbour = torch.cat([second, first.narrow(0, 0, num_pairs)])
        distances = torch.linalg.norm(vectors, dim=-1)
        pair_sh = self.spherical_harmonics(vectors)
        edge_sh = torch.cat([pair_sh, pair_sh.narrow(0, 0, num_pairs) * self.reversed_sh_signs])
        edge_basis = self.basis(distances) * (self.basis_prefactor * self.envelope(distances).unsqueeze(-1))
        node_attrs = self.embedding(species)
        neighbor_norm = self.neighbor_norms.index_select(0, species).unsqueeze(-1)
        features = node_attrs
        for layer in self.layers:
            features = layer(features, node_attrs, neighbor_norm, edge_sh, edge_basis, centre, neighbour, num_pairs)
        return self.readout(features).squeeze(-1) * self.type_scales.index_select(0, species)
