"""EquiformerV2 (Liao, Wood, Das, Smidt, "EquiformerV2: Improved Equivariant Transformer
for Scaling to Higher-Degree Representations", ICLR 2024; reference implementation
atomicarchitects/equiformer_v2, also fairchem-core 1.x `models/equiformer_v2`).

Every atom carries spherical-harmonic features x [N, (l_max + 1)^2, C] (real
harmonics of nn/angular.py, column l^2 + l + m; C = sphere_channels).
- Embedding: x_l=0 = embedding(element); plus the edge-degree embedding: for every
  edge (i, j) a radial network of [Gaussians(r_ij), source(z_j), target(z_i)] gives
  m = 0 coefficients of every degree in the edge frame (edge along z), rotated back
  to the global frame (Wigner-D, nn/wigner.py), summed over j and divided by
  `avg_degree` (by default the training data's mean number of neighbours).
- Blocks (num_blocks times), each x += attention(norm(x)); x += ffn(norm(x)):
  * attention: the message of edge (i, j) is [x_j, x_i] rotated into the edge frame,
    keeping orders |m| <= m_max; an SO(2) convolution (eSCN: one linear map per m,
    mixing degrees, complex-linear on the (+m, -m) pair, its weights scaled by a
    radial network of [Gaussians, source, target]) also gives per-edge scalars for
    the attention logits and the activation's gates; the activation (gate, or
    separable S2 on a grid in the edge frame); a second SO(2) convolution gives
    num_heads value vectors; logits: LayerNorm per head, smooth leaky ReLU, a dot
    product; softmax over the edges of atom i; weighted values rotated back to the
    global frame, summed over j, and a degree-wise linear map (SO3Linear).
  * feed-forward: degree-wise linear, activation (gate, separable S2 on a global
    grid, or the grid MLP), degree-wise linear.
- Readout: a final equivariant norm and a feed-forward network with one output
  channel; its l = 0 value is the atom's energy.

Receptive field: the edge-degree embedding already sums over neighbours (one hop)
and every block's attention adds one, so `num_layers` (base.py) = num_blocks + 1.
`num_blocks` is what the paper and fairchem call num_layers.

Paper / fairchem OC20 values (S2EF, 12 layers): num_blocks 12, l_max 6, m_max 2,
sphere_channels 128, attn_hidden_channels 128, num_heads 8, attn_alpha_channels 32,
attn_value_channels 16, ffn_hidden_channels 512, edge_channels 128, 600 Gaussians
(width 2 spacings), cutoff 12 A, separable S2 activation, grid MLP in the FFN,
norm "layer_norm_sh", avg_degree 23.4. The constructor's defaults are a model one
can train on a CPU (4 blocks, l_max 3, 32 channels, 5 A).

Differences from the reference (the conversion options reproduce it, see below):
- Edge frames are a deterministic function of the edge vector (nn/wigner.py), not a
  random roll per call (equiformer_v2 issue #17: stochastic outputs); the Wigner
  matrices stay in the autograd graph and in the model's dtype, so forces are the
  exact gradient of the energy (the reference detaches them, builds them in float32
  and predicts forces with a separate head) and float64 works.
- `cutoff_envelope` (default on): the reference has no cutoff function, so its
  energy jumps when an atom crosses the cutoff. Here the edge-degree embedding is
  multiplied by a polynomial envelope u(r) (nn/cutoffs.py, p = 6), and attention
  weights are u_ij exp(a_ij) / sum_k u_ik exp(a_ik), times u_ij once more, so that an
  edge fades in and out smoothly (also when it is an atom's only edge).
- `equivariance_group`: "SO(3)" is the reference (its SO(2) convolutions have
  imaginary weights, which make the energy chiral: a mirror image has a different
  energy). "O(3)" leaves out the imaginary weights (the rotation of each (+m, -m)
  pair into a mirrored edge frame is a complex conjugation, which real weights
  commute with), which makes the energy invariant under reflections too.
- `activation`: "s2" is the reference's separable S2 activation (scalars through
  SiLU, l > 0 through SiLU on a grid of the sphere); "gate" is its gate activation
  (l > 0 scaled by sigmoid gates from scalars), exactly equivariant. On a finite grid
  the S2 activation is equivariant only up to aliasing; in the edge frame its error
  also depends on the frame's roll about the edge (the reference's randomness, our
  seam at the equator of nn/wigner.py's frames). Measured on the generic suite's tiny
  random models (tests/conftest.py, activation "s2", SO(3)), a 32-atom Cu-Ni cluster,
  float64, max relative error of the energy / of the forces under 3 random rotations;
  `grid_resolution` = [latitudes, longitudes] of every grid, None the reference's
  (2 (l_max + 1) x (2 m_max + 1) in the edge frame, 2 (l_max + 1) x (2 l_max + 3) in
  the feed-forward networks), for both kinds of `grid`:
                        grid "gauss_legendre"                 grid "equiangular"
      grid_resolution   l_max 2, m_max 1   l_max 4, m_max 2   l_max 2, m_max 1   l_max 4, m_max 2
      None              1.6e-8  / 7.5e-5   9.3e-9  / 1.5e-4   1.1e-8  / 6.2e-5   6.3e-9  / 9.5e-5
      [8, 8]            7.0e-12 / 1.3e-7   (too coarse)       6.1e-12 / 4.6e-8   (too coarse)
      [12, 12]          2e-16   / 2.1e-12  1.6e-7  / 2.6e-4   4e-16   / 9.6e-13  5.6e-8  / 1.0e-4
      [16, 16]          0       / 5.2e-15  7.2e-10 / 2.5e-6   0       / 5.8e-15  4.9e-10 / 1.2e-6
      [24, 24]          0       / 5.4e-15  1.2e-13 / 4.7e-10  0       / 5.4e-15  7.2e-14 / 2.4e-10
  (the error also grows with the size of the features on the grid: trained models
  with larger activations need finer grids). The gate activation is exact to
  round-off (~1e-15); tests/python/test_equiformer_v2.py checks the S2 variant
  against this table.
- `grid`: "gauss_legendre" (the default) samples the sphere at Gauss-Legendre
  latitudes; "equiangular" at the reference's points (e3nn's equiangular grid with
  Driscoll-Healy weights, nn/s2_grid.py), which the converter selects: the two alias
  differently, by about as much as the equivariance error above, and with the
  reference's grid a converted model equals the reference to round-off once the
  reference's edge frames are ours (tests/peers/test_equiformer_v2_parity.py). Both
  are equally good otherwise (table); an equiangular grid needs an even number of
  latitudes, at least 2 (l_max + 1).
- Dropout, drop path and graph parallelism (training devices of the reference) are
  left out; `share_atom_edge_embedding`, `use_m_share_rad`, the non-separable S2
  activation and `use_s2_act_attn` are not offered (the converter refuses them).

Known reference behaviours kept for conversion (set by equipot.convert.equiformer_v2):
- its Gaussian distance basis always has 600 functions, whatever its
  num_distance_basis says (`num_distance_basis` = 600 here);
- with m_max < l_max, degrees l > m_max are multiplied by sqrt((2l + 1) /
  (2 m_max + 1)) when rotated back from the edge frame and on both ways to and from
  its edge-frame grids (kept always; a constant per degree, learnt around);
- the energy is sum_i E_i / avg_num_nodes (a constant, folded into energy_scale).
"""

import math
from typing import Final, List, Optional, Tuple

import torch
from torch import nn

from ..nn import GaussianBasis, PolynomialEnvelope, scatter_sum
from ..nn.equivariant_norm import EquivariantLayerNormSH, EquivariantRMSNorm
from ..nn.s2_grid import GRID_KINDS, S2Grid, coefficient_indices, degree_rescale
from ..nn.wigner import WignerD, edge_frames
from .base import AtomisticModel

ACTIVATION_KINDS = ("s2", "gate")
NORM_TYPES = ("rms_norm_sh", "layer_norm_sh")
GROUPS = ("SO(3)", "O(3)")

def smooth_leaky_relu(x: torch.Tensor, negative_slope: float = 0.2) -> torch.Tensor:
    """(1 + a)/2 x + (1 - a)/2 x (2 sigmoid(x) - 1): EquiformerV2's attention activation."""
    return 0.5 * (1.0 + negative_slope) * x + 0.5 * (1.0 - negative_slope) * x * (2.0 * torch.sigmoid(x) - 1.0)


class RadialFunction(nn.Module):
    """Linear, LayerNorm, SiLU, ..., Linear over `channels` (the reference's layout, so
    that its `net.*` parameters map one to one)."""

    def __init__(self, channels: List[int]):
        super().__init__()
        modules: List[nn.Module] = []
        for index in range(1, len(channels)):
            modules.append(nn.Linear(channels[index - 1], channels[index]))
            if index < len(channels) - 1:
                modules.append(nn.LayerNorm(channels[index]))
                modules.append(nn.SiLU())
        self.net = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SO3Linear(nn.Module):
    """One channel-mixing matrix per degree l (so it commutes with rotations), a bias
    on l = 0 only."""

    def __init__(self, in_features: int, out_features: int, l_max: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(l_max + 1, out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.register_buffer("expand_index", torch.tensor([l for l in range(l_max + 1) for _ in range(2 * l + 1)]),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.index_select(0, self.expand_index)  # [n, out, in]
        out = torch.matmul(x.transpose(0, 1), weight.transpose(1, 2)).transpose(0, 1)  # [N, n, out]
        return torch.cat([out.narrow(1, 0, 1) + self.bias, out.narrow(1, 1, out.shape[1] - 1)], 1)


class SO2MConvolution(nn.Module):
    def __init__(self, in_features: int, out_features: int, chiral: bool):
        super().__init__()
        self.fc = nn.Linear(in_features, (2 if chiral else 1) * out_features, bias=False)
        with torch.no_grad():
            self.fc.weight.mul_(1.0 / math.sqrt(2.0))


class SO2Convolution(nn.Module):
    """eSCN's SO(2) convolution of edge-frame features x [E, n, C_in] (n: the |m| <= m_max
    coefficients, s2_grid.coefficient_indices order): for m = 0 one linear map of all
    degrees' m = 0 coefficients (with bias; `extra` more scalar outputs first); for each
    m > 0 one map of the (+m, -m) pairs, complex-linear (chiral) or real (O(3)). With
    `radial_channels` the inputs are first scaled elementwise by a radial network of the
    edge's scalar features."""

    chiral: Final[bool]
    use_radial: Final[bool]

    def __init__(self, in_channels: int, out_channels: int, l_max: int, m_max: int,
                 radial_channels: Optional[List[int]], extra: int, chiral: bool):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.l_max, self.m_max, self.extra = l_max, m_max, extra
        self.chiral = chiral
        self.fc_m0 = nn.Linear((l_max + 1) * in_channels, (l_max + 1) * out_channels + extra)
        self.so2_m_conv = nn.ModuleList(
            [SO2MConvolution((l_max - m + 1) * in_channels, (l_max - m + 1) * out_channels, chiral)
             for m in range(1, m_max + 1)])
        total = (l_max + 1) * in_channels + sum((l_max - m + 1) * in_channels for m in range(1, m_max + 1))
        self.use_radial = radial_channels is not None
        if radial_channels is not None:
            self.rad_func = RadialFunction(list(radial_channels) + [total])
        # m-primary order (m = 0 of every l, then +1 of l >= 1, -1 of l >= 1, +2, ...)
        # as positions in the l-primary list of kept coefficients, and back.
        kept = coefficient_indices(l_max, m_max)
        position = {column: k for k, column in enumerate(kept)}
        order = [position[l * l + l] for l in range(l_max + 1)]
        for m in range(1, m_max + 1):
            order += [position[l * l + l + m] for l in range(m, l_max + 1)]
            order += [position[l * l + l - m] for l in range(m, l_max + 1)]
        inverse = [0] * len(order)
        for k, index in enumerate(order):
            inverse[index] = k
        self.register_buffer("to_m", torch.tensor(order), persistent=False)
        self.register_buffer("from_m", torch.tensor(inverse), persistent=False)
        self.sizes = [l_max + 1] + [l_max - m + 1 for m in range(1, m_max + 1)]

    def forward(self, x: torch.Tensor, edge_features: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        num_edges = x.shape[0]
        x = x.index_select(1, self.to_m)
        size0 = self.sizes[0]
        x0 = x.narrow(1, 0, size0).reshape(num_edges, size0 * self.in_channels)
        weights = edge_features
        if self.use_radial:
            weights = self.rad_func(edge_features)
            x0 = x0 * weights.narrow(1, 0, size0 * self.in_channels)
        y0 = self.fc_m0(x0)
        extra = y0.narrow(1, 0, self.extra)
        outputs = [y0.narrow(1, self.extra, size0 * self.out_channels).view(num_edges, size0, self.out_channels)]
        offset, radial_offset = size0, size0 * self.in_channels
        for index, conv in enumerate(self.so2_m_conv):
            size = self.sizes[index + 1]
            width = size * self.in_channels
            xm = x.narrow(1, offset, 2 * size).reshape(num_edges, 2, width)
            if self.use_radial:
                xm = xm * weights.narrow(1, radial_offset, width).unsqueeze(1)
            ym = conv.fc(xm)
            if self.chiral:
                half = size * self.out_channels
                real, imaginary = ym.narrow(2, 0, half), ym.narrow(2, half, half)
                ym = torch.stack([real[:, 0] - imaginary[:, 1], real[:, 1] + imaginary[:, 0]], 1)
            outputs.append(ym.reshape(num_edges, 2 * size, self.out_channels))
            offset += 2 * size
            radial_offset += width
        out = torch.cat(outputs, 1).index_select(1, self.from_m)
        return out, extra


class Activation(nn.Module):
    """forward(gates, x): the gate activation (x_l=0 -> SiLU(x_l=0), x_l>0 -> sigmoid(gate_l)
    x_l, gates [E, l_max C]) or the separable S2 activation (x_l=0 -> SiLU(gates), gates
    [E, C]; x_l>0 -> the l > 0 part of SiLU on the sphere), on the |m| <= m_max
    coefficients."""

    gate: Final[bool]

    def __init__(self, kind: str, l_max: int, m_max: int, channels: int, resolution: Optional[Tuple[int, int]],
                 grid: str = "gauss_legendre", polar_axis: str = "z"):
        super().__init__()
        self.gate = kind == "gate"
        self.l_max, self.channels = l_max, channels
        if self.gate:
            index = [l - 1 for l in range(1, l_max + 1) for _ in range(min(2 * l + 1, 2 * m_max + 1))]
            self.register_buffer("expand_index", torch.tensor(index, dtype=torch.int64), persistent=False)
        else:
            self.grid = S2Grid(l_max, m_max, resolution, grid, polar_axis)

    def forward(self, gates: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.gate:
            scalars = nn.functional.silu(x.narrow(1, 0, 1))
            g = torch.sigmoid(gates).view(gates.shape[0], self.l_max, self.channels).index_select(1, self.expand_index)
            return torch.cat([scalars, x.narrow(1, 1, x.shape[1] - 1) * g], 1)
        scalars = nn.functional.silu(gates).unsqueeze(1)
        tensors = self.grid(x)
        return torch.cat([scalars, tensors.narrow(1, 1, tensors.shape[1] - 1)], 1)


class GraphAttention(nn.Module):
    def __init__(self, sphere_channels: int, hidden_channels: int, num_heads: int, alpha_channels: int,
                 value_channels: int, l_max: int, m_max: int, num_elements: int, edge_channels: List[int],
                 activation: str, chiral: bool, resolution: Optional[Tuple[int, int]], grid: str):
        super().__init__()
        self.num_heads, self.alpha_channels, self.value_channels = num_heads, alpha_channels, value_channels
        self.source_embedding = nn.Embedding(num_elements, edge_channels[-1])
        self.target_embedding = nn.Embedding(num_elements, edge_channels[-1])
        nn.init.uniform_(self.source_embedding.weight, -0.001, 0.001)
        nn.init.uniform_(self.target_embedding.weight, -0.001, 0.001)
        radial = [edge_channels[0] + 2 * edge_channels[-1]] + list(edge_channels[1:])
        gates = l_max * hidden_channels if activation == "gate" else hidden_channels
        self.so2_conv_1 = SO2Convolution(2 * sphere_channels, hidden_channels, l_max, m_max, radial,
                                         num_heads * alpha_channels + gates, chiral)
        self.alpha_norm = nn.LayerNorm(alpha_channels)
        bound = 1.0 / math.sqrt(alpha_channels)
        self.alpha_dot = nn.Parameter(torch.empty(num_heads, alpha_channels).uniform_(-bound, bound))
        self.act = Activation(activation, l_max, m_max, hidden_channels, resolution, grid, "z")  # edge frame
        self.so2_conv_2 = SO2Convolution(hidden_channels, num_heads * value_channels, l_max, m_max, None, 0, chiral)
        self.proj = SO3Linear(num_heads * value_channels, sphere_channels, l_max)

    def forward(self, x: torch.Tensor, species: torch.Tensor, basis: torch.Tensor, centre: torch.Tensor,
                neighbour: torch.Tensor, rotation: torch.Tensor, inverse: torch.Tensor,
                envelope: torch.Tensor) -> torch.Tensor:
        num_edges = basis.shape[0]
        edge_features = torch.cat([basis, self.source_embedding(species.index_select(0, neighbour)),
                                   self.target_embedding(species.index_select(0, centre))], 1)
        message = torch.cat([x.index_select(0, neighbour), x.index_select(0, centre)], 2)
        message = torch.bmm(rotation, message)  # edge frame, |m| <= m_max
        message, extra = self.so2_conv_1(message, edge_features)
        heads = self.num_heads * self.alpha_channels
        message = self.act(extra.narrow(1, heads, extra.shape[1] - heads), message)
        message, _ = self.so2_conv_2(message, edge_features)

        alpha = self.alpha_norm(extra.narrow(1, 0, heads).reshape(num_edges, self.num_heads, self.alpha_channels))
        logits = (smooth_leaky_relu(alpha) * self.alpha_dot).sum(-1)  # [E, heads]
        # Softmax over the edges of each centre atom, each term weighted by the envelope.
        expanded = centre.unsqueeze(1).expand_as(logits)
        maximum = torch.full([x.shape[0], self.num_heads], float("-inf"), dtype=logits.dtype, device=logits.device)
        maximum = maximum.scatter_reduce(0, expanded, logits.detach(), reduce="amax", include_self=True)
        terms = torch.exp(logits - maximum.index_select(0, centre)) * envelope.unsqueeze(1)
        total = scatter_sum(terms, centre, x.shape[0]).index_select(0, centre)
        weights = terms / torch.where(total > 0, total, torch.ones_like(total)) * envelope.unsqueeze(1)

        message = message.view(num_edges, message.shape[1], self.num_heads, self.value_channels)
        message = (message * weights.view(num_edges, 1, self.num_heads, 1)).view(
            num_edges, message.shape[1], self.num_heads * self.value_channels)
        message = torch.bmm(inverse, message)  # global frame, all m
        return self.proj(scatter_sum(message, centre, x.shape[0]))


class FeedForward(nn.Module):
    grid_mlp: Final[bool]

    def __init__(self, sphere_channels: int, hidden_channels: int, output_channels: int, l_max: int,
                 activation: str, grid_mlp: bool, resolution: Optional[Tuple[int, int]], grid: str):
        super().__init__()
        self.grid_mlp = grid_mlp
        # Global frame: the reference's equiangular grids there have e3nn's polar axis y.
        polar_axis = "y" if grid == "equiangular" else "z"
        self.so3_linear_1 = SO3Linear(sphere_channels, hidden_channels, l_max)
        if grid_mlp:
            self.scalar_mlp = nn.Sequential(nn.Linear(sphere_channels, hidden_channels), nn.SiLU())
            self.grid_mlp_net = nn.Sequential(
                nn.Linear(hidden_channels, hidden_channels, bias=False), nn.SiLU(),
                nn.Linear(hidden_channels, hidden_channels, bias=False), nn.SiLU(),
                nn.Linear(hidden_channels, hidden_channels, bias=False))
            self.grid = S2Grid(l_max, l_max, resolution, grid, polar_axis)
        else:
            gates = l_max * hidden_channels if activation == "gate" else hidden_channels
            self.gating_linear = nn.Linear(sphere_channels, gates)
            self.act = Activation(activation, l_max, l_max, hidden_channels, resolution, grid, polar_axis)
        self.so3_linear_2 = SO3Linear(hidden_channels, output_channels, l_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scalars = x.narrow(1, 0, 1).squeeze(1)
        if self.grid_mlp:
            gates = self.scalar_mlp(scalars)
            hidden = self.grid.from_grid(self.grid_mlp_net(self.grid.to_grid(self.so3_linear_1(x))))
            hidden = torch.cat([gates.unsqueeze(1), hidden.narrow(1, 1, hidden.shape[1] - 1)], 1)
        else:
            hidden = self.act(self.gating_linear(scalars), self.so3_linear_1(x))
        return self.so3_linear_2(hidden)


def equivariant_norm(norm_type: str, l_max: int, channels: int) -> nn.Module:
    return EquivariantRMSNorm(l_max, channels) if norm_type == "rms_norm_sh" else EquivariantLayerNormSH(l_max, channels)


class TransformerBlock(nn.Module):
    def __init__(self, sphere_channels: int, attn_hidden_channels: int, num_heads: int, attn_alpha_channels: int,
                 attn_value_channels: int, ffn_hidden_channels: int, l_max: int, m_max: int, num_elements: int,
                 edge_channels: List[int], activation: str, grid_mlp: bool, norm_type: str, chiral: bool,
                 resolution: Optional[Tuple[int, int]], grid: str):
        super().__init__()
        self.norm_1 = equivariant_norm(norm_type, l_max, sphere_channels)
        self.ga = GraphAttention(sphere_channels, attn_hidden_channels, num_heads, attn_alpha_channels,
                                 attn_value_channels, l_max, m_max, num_elements, edge_channels, activation, chiral,
                                 resolution, grid)
        self.norm_2 = equivariant_norm(norm_type, l_max, sphere_channels)
        self.ffn = FeedForward(sphere_channels, ffn_hidden_channels, sphere_channels, l_max, activation, grid_mlp,
                               resolution, grid)

    def forward(self, x: torch.Tensor, species: torch.Tensor, basis: torch.Tensor, centre: torch.Tensor,
                neighbour: torch.Tensor, rotation: torch.Tensor, inverse: torch.Tensor,
                envelope: torch.Tensor) -> torch.Tensor:
        x = x + self.ga(self.norm_1(x), species, basis, centre, neighbour, rotation, inverse, envelope)
        return x + self.ffn(self.norm_2(x))


class EdgeDegreeEmbedding(nn.Module):
    def __init__(self, sphere_channels: int, l_max: int, num_elements: int, edge_channels: List[int],
                 avg_degree: float):
        super().__init__()
        self.l_max, self.sphere_channels = l_max, sphere_channels
        # a buffer, so that training can set it from the data (EquiformerV2.set_data_statistics)
        self.register_buffer("avg_degree", torch.tensor(float(avg_degree)))
        self.source_embedding = nn.Embedding(num_elements, edge_channels[-1])
        self.target_embedding = nn.Embedding(num_elements, edge_channels[-1])
        nn.init.uniform_(self.source_embedding.weight, -0.001, 0.001)
        nn.init.uniform_(self.target_embedding.weight, -0.001, 0.001)
        radial = [edge_channels[0] + 2 * edge_channels[-1]] + list(edge_channels[1:])
        self.rad_func = RadialFunction(radial + [(l_max + 1) * sphere_channels])

    def forward(self, species: torch.Tensor, basis: torch.Tensor, centre: torch.Tensor, neighbour: torch.Tensor,
                zonal_rows: torch.Tensor, envelope: torch.Tensor, num_atoms: int) -> torch.Tensor:
        """zonal_rows [E, l_max + 1, n]: the rows (l, m = 0) of the edges' Wigner
        matrices, times the m_max rescale: the global coefficients of a zonal
        coefficient in the edge frame."""
        features = torch.cat([basis, self.source_embedding(species.index_select(0, neighbour)),
                              self.target_embedding(species.index_select(0, centre))], 1)
        zonal = self.rad_func(features).view(-1, self.l_max + 1, self.sphere_channels) * envelope.view(-1, 1, 1)
        embedding = torch.bmm(zonal_rows.transpose(1, 2), zonal)  # [E, n, C]
        return scatter_sum(embedding, centre, num_atoms) / self.avg_degree


class EquiformerV2(AtomisticModel):
    architecture = "equiformer_v2"

    def __init__(
        self,
        elements: List[str],
        cutoff: float = 5.0,
        num_blocks: int = 4,
        l_max: int = 3,
        m_max: int = 2,
        sphere_channels: int = 32,
        attn_hidden_channels: int = 32,
        num_heads: int = 4,
        attn_alpha_channels: int = 8,
        attn_value_channels: int = 8,
        ffn_hidden_channels: int = 64,
        edge_channels: int = 32,
        num_distance_basis: int = 32,
        activation: str = "s2",
        grid_mlp: bool = False,
        grid_resolution: Optional[List[int]] = None,
        grid: str = "gauss_legendre",
        norm_type: str = "rms_norm_sh",
        equivariance_group: str = "SO(3)",
        cutoff_envelope: bool = True,
        avg_degree: Optional[float] = None,
    ):
        super().__init__(elements, cutoff, num_blocks + 1)
        if activation not in ACTIVATION_KINDS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATION_KINDS)}, got '{activation}'")
        if norm_type not in NORM_TYPES:
            raise ValueError(f"norm_type must be one of {', '.join(NORM_TYPES)}, got '{norm_type}'")
        if equivariance_group not in GROUPS:
            raise ValueError(f"equivariance_group must be one of {', '.join(GROUPS)}, got '{equivariance_group}'")
        if not 0 <= m_max <= l_max or l_max < 1:
            raise ValueError(f"need 1 <= l_max and 0 <= m_max <= l_max, got l_max {l_max}, m_max {m_max}")
        if grid_mlp and activation == "gate":
            raise ValueError("grid_mlp is an S2 (grid) feed-forward network; it needs activation 's2'")
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        if grid_resolution is not None and len(grid_resolution) != 2:
            raise ValueError(f"grid_resolution is [latitudes, longitudes], got {grid_resolution}")
        if grid not in GRID_KINDS:
            raise ValueError(f"grid must be one of {', '.join(GRID_KINDS)}, got '{grid}'")
        resolution = None if grid_resolution is None else (int(grid_resolution[0]), int(grid_resolution[1]))
        self.l_max, self.m_max = l_max, m_max
        self.sphere_channels = sphere_channels
        self.use_envelope = bool(cutoff_envelope)
        chiral = equivariance_group == "SO(3)"
        self.sphere_embedding = nn.Embedding(len(elements), sphere_channels)
        self.distance_expansion = GaussianBasis(num_distance_basis, cutoff)
        self.distance_expansion.width *= 2.0  # the reference's 2 spacings
        self.envelope = PolynomialEnvelope(cutoff, 6)
        self.wigner = WignerD(l_max)
        edge = [num_distance_basis, edge_channels, edge_channels]
        # None: the mean number of neighbours of the training data (set_data_statistics)
        self.edge_degree_embedding = EdgeDegreeEmbedding(sphere_channels, l_max, len(elements), edge,
                                                         avg_degree if avg_degree is not None else 20.0)
        self.degree_from_data = avg_degree is None
        self.blocks = nn.ModuleList([
            TransformerBlock(sphere_channels, attn_hidden_channels, num_heads, attn_alpha_channels,
                             attn_value_channels, ffn_hidden_channels, l_max, m_max, len(elements), edge, activation,
                             grid_mlp, norm_type, chiral, resolution, grid)
            for _ in range(num_blocks)])
        self.norm = equivariant_norm(norm_type, l_max, sphere_channels)
        self.energy_block = FeedForward(sphere_channels, ffn_hidden_channels, 1, l_max, activation, grid_mlp,
                                        resolution, grid)
        kept = coefficient_indices(l_max, m_max)
        self.register_buffer("kept", torch.tensor(kept), persistent=False)
        rescale = torch.tensor(degree_rescale(l_max, m_max), dtype=torch.float64)
        self.register_buffer("rescale", rescale, persistent=False)
        self.register_buffer("zonal", torch.tensor([l * l + l for l in range(l_max + 1)]), persistent=False)
        self.register_buffer("zonal_rescale", torch.tensor(
            [math.sqrt((2 * l + 1) / (2 * m_max + 1)) if l > m_max else 1.0 for l in range(l_max + 1)],
            dtype=torch.float64), persistent=False)

    @torch.jit.unused
    def set_data_statistics(self, mean_num_neighbors: float) -> None:
        """Called by training before the first epoch (see AtomisticModel)."""
        if self.degree_from_data:
            self.edge_degree_embedding.avg_degree.fill_(max(mean_num_neighbors, 1.0))

    def atomic_outputs(
        self, species: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor
    ) -> torch.Tensor:
        centre, neighbour = edge_index[0], edge_index[1]
        num_atoms = species.shape[0]
        distances = torch.linalg.norm(edge_vectors, dim=-1)
        directions = edge_vectors / distances.unsqueeze(-1)
        wigner = self.wigner(edge_frames(directions))  # [E, n, n], edge frame <- global
        dtype = edge_vectors.dtype
        rotation = wigner.index_select(1, self.kept)  # [E, n_kept, n]
        inverse = rotation.transpose(1, 2) * self.rescale.to(dtype)  # [E, n, n_kept]
        zonal_rows = wigner.index_select(1, self.zonal) * self.zonal_rescale.to(dtype).view(1, -1, 1)
        basis = self.distance_expansion(distances)
        if self.use_envelope:
            envelope = self.envelope(distances)
        else:
            envelope = torch.ones_like(distances)

        size = (self.l_max + 1) * (self.l_max + 1)
        embedding = self.sphere_embedding(species).unsqueeze(1)
        x = torch.cat([embedding, embedding.new_zeros([num_atoms, size - 1, self.sphere_channels])], 1)
        x = x + self.edge_degree_embedding(species, basis, centre, neighbour, zonal_rows, envelope, num_atoms)
        for block in self.blocks:
            x = block(x, species, basis, centre, neighbour, rotation, inverse, envelope)
        return self.energy_block(self.norm(x))[:, 0, 0]
