"""TensorNet (Simeon & De Fabritiis, "TensorNet: Cartesian Tensor Representations for
Efficient Learning of Molecular Potentials", NeurIPS 2023; reference implementation
torchmd-net 3.1 `torchmdnet/models/tensornet.py`).

Every atom carries F rank-2 Cartesian tensors X [N, F, 3, 3], handled through their
irreducible parts: I = tr(X)/3 Id (scalar), A = (X - X^T)/2 (antisymmetric, a vector)
and S = (X + X^T)/2 - I (symmetric traceless). Channel mixing (Linear layers without
bias) acts on each part separately, which keeps them equivariant.

- Radial features: exp-normal functions of the distance (`ExpNormalBasis`) times a
  cosine cutoff on [0, cutoff]; every edge weight is further multiplied by the cutoff
  envelope C(r) (the same cosine cutoff, see `cutoff_lower` below).
- Embedding: for each edge (i, j) a pair embedding Z_ij = Linear([z_i, z_j]) of the
  two element embeddings, times C(r_ij) and three Linear projections of the radial
  features, weights the tensors Id, skew(r^) and r^ r^T - Id/3; the sums over
  neighbours give I_i, A_i, S_i. Their Frobenius norms (LayerNorm, 2-layer MLP) give
  three per-channel gates that scale channel-mixed I, A, S.
- Interaction (num_interactions times): X <- X / (|X|^2 + 1); Y = mixed parts of X;
  the message M_i = sum_j f0(r_ij) I_j + f1(r_ij) A_j + f2(r_ij) S_j, with f a 3-layer
  MLP of the radial features times C(r_ij); then Y M + M Y (O(3)) or 2 Y M (SO(3)),
  normalised by (|.|^2 + 1), channel-mixed into dX; X <- X + dX + dX dX.
- Readout: the squared norms |I|^2, |A|^2, |S|^2 of every channel, LayerNorm, then
  Linear(3F, F), act, Linear(F, F/2), act, Linear(F/2, 1) to per-atom energies
  (torchmd-net's last representation layer followed by its `Scalar` output head).

Receptive field: the embedding of atom i already aggregates its neighbours' pair
features, so X_i after the embedding depends on atoms one hop away; each interaction
gathers the neighbours' tensors once more. The energy of atom i therefore sees
num_interactions + 1 graph hops, which is `num_layers`.

Paper / reference defaults (rMD17): hidden_channels 128, num_interactions 2 (torchmd-net
calls it num_layers), num_rbf 32, cutoff 4.5 A, SiLU, O(3).

Details of torchmd-net kept, so that its checkpoints convert exactly:
- Self-loops: torchmd-net's neighbour list includes every atom as its own neighbour
  (r = 0, r^ = 0). They add the constant pair term C(0) Z_ii proj1(rbf(0)) to I_i in
  the embedding and f(0) times the atom's own I, A, S to its message; both are
  computed here per atom, not from edges (the caller passes only r > 0).
- Direction convention: r^ = (r_j - r_i) / r_ij, equipot's edge vectors, which is what
  torchmd-net 3.1 computes with its Warp kernels (its default and, since its neighbour
  list needs Warp, only path). Its pure-PyTorch fallback (and torchmd-net 2.x) uses
  r_i - r_j, which negates A after the embedding. In O(3) mode the energy is even in A
  and the two agree; in SO(3) mode they differ (the energy is not invariant under
  reflections there), and the converter's `pytorch_fallback` option negates the
  embedding's A mixing to match the fallback.
- `cutoff_lower` > 0: the radial functions start at cutoff_lower and C(r) becomes
  torchmd-net's bump 0.5 (cos(pi (2 (r - l) / (rc - l) + 1)) + 1) on (l, rc), zero
  outside (so closer pairs and the self-loops contribute nothing), while the radial
  functions' own cosine cutoff stays on [0, rc].
- torchmd-net's optional total charge q (factor 1 + 0.1 q on the products) is fixed at
  q = 0, i.e. neutral systems.
"""

import math
from typing import List, Tuple

import torch
from torch import nn

from ..nn import MLP, CosineCutoff, ExpNormalBasis, scatter_sum
from .base import AtomisticModel

GROUPS = ("O(3)", "SO(3)")


def decompose(tensor: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[..., 3, 3] -> (I [...] the trace / 3, A antisymmetric, S symmetric traceless)."""
    scalar = tensor.diagonal(dim1=-2, dim2=-1).mean(-1)
    transposed = tensor.transpose(-2, -1)
    antisymmetric = 0.5 * (tensor - transposed)
    symmetric = 0.5 * (tensor + transposed) - scalar[..., None, None] * _identity(tensor)
    return scalar, antisymmetric, symmetric


def compose(scalar: torch.Tensor, antisymmetric: torch.Tensor, symmetric: torch.Tensor) -> torch.Tensor:
    return scalar[..., None, None] * _identity(symmetric) + antisymmetric + symmetric


def squared_norm(tensor: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm over the last two axes (no square root: smooth at 0)."""
    return (tensor * tensor).sum((-2, -1))


def skew(vector: torch.Tensor) -> torch.Tensor:
    """[..., 3] -> the cross-product matrix [..., 3, 3] (skew(v) w = v x w)."""
    x, y, z = vector[..., 0], vector[..., 1], vector[..., 2]
    zero = torch.zeros_like(x)
    rows = [torch.stack([zero, -z, y], -1), torch.stack([z, zero, -x], -1), torch.stack([-y, x, zero], -1)]
    return torch.stack(rows, -2)


def unskew(tensor: torch.Tensor) -> torch.Tensor:
    """The vector of an antisymmetric [..., 3, 3] (inverse of `skew`)."""
    return torch.stack([tensor[..., 2, 1], tensor[..., 0, 2], tensor[..., 1, 0]], -1)


def _identity(like: torch.Tensor) -> torch.Tensor:
    return torch.eye(3, dtype=like.dtype, device=like.device)


def mix(weight: torch.Tensor, tensor: torch.Tensor) -> torch.Tensor:
    """A bias-free Linear (its weight [G, F]) over the channel axis of [N, F, 3, 3]."""
    return torch.einsum("gf,nfij->ngij", weight, tensor)


class TensorEmbedding(nn.Module):
    def __init__(self, num_elements: int, hidden_channels: int, num_rbf: int, activation_name: str):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.embedding = nn.Embedding(num_elements, hidden_channels)
        self.pair_embedding = nn.Linear(2 * hidden_channels, hidden_channels)
        # The three radial projections (for Id, skew(r^), r^r^T - Id/3) as one layer.
        self.distance_projection = nn.Linear(num_rbf, 3 * hidden_channels)
        self.norm = nn.LayerNorm(hidden_channels)
        self.gates = MLP([hidden_channels, 2 * hidden_channels, 3 * hidden_channels], activation_name,
                         activate_last=True)
        self.linears = nn.ModuleList([nn.Linear(hidden_channels, hidden_channels, bias=False) for _ in range(3)])

    def forward(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        directions: torch.Tensor,
        basis: torch.Tensor,
        envelope: torch.Tensor,
        self_basis: torch.Tensor,
        self_envelope: torch.Tensor,
    ) -> torch.Tensor:
        num_atoms, features = species.shape[0], self.hidden_channels
        centres, neighbours = edge_index[0], edge_index[1]
        elements = self.embedding(species)
        pair = self.pair_embedding(torch.cat([elements[centres], elements[neighbours]], -1))
        weights = (envelope.unsqueeze(-1) * pair).unsqueeze(1) * self.distance_projection(basis).view(-1, 3, features)

        scalar = scatter_sum(weights[:, 0], centres, num_atoms)
        # Self-loop: r = 0, so only its Id term survives.
        self_pair = self.pair_embedding(torch.cat([elements, elements], -1))
        self_weight = self.distance_projection(self_basis).view(-1, 3, features)[:, 0]
        scalar = scalar + self_envelope * self_pair * self_weight

        vector = scatter_sum(weights[:, 1].unsqueeze(-1) * directions.unsqueeze(1), centres, num_atoms)
        outer = directions.unsqueeze(-1) * directions.unsqueeze(-2)
        traceless = outer - _identity(outer) / 3.0
        symmetric = scatter_sum(weights[:, 2, :, None, None] * traceless.unsqueeze(1), centres, num_atoms)
        antisymmetric = skew(vector)  # [N, F, 3, 3]

        gates = self.norm(squared_norm(compose(scalar, antisymmetric, symmetric)))
        gates = self.gates(gates).view(num_atoms, 3, features)
        scalar = self.linears[0](scalar) * gates[:, 0]
        antisymmetric = mix(self.linears[1].weight, antisymmetric) * gates[:, 1, :, None, None]
        symmetric = mix(self.linears[2].weight, symmetric) * gates[:, 2, :, None, None]
        return compose(scalar, antisymmetric, symmetric)


class Interaction(nn.Module):
    def __init__(self, hidden_channels: int, num_rbf: int, activation_name: str, equivariance_group: str):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.o3 = equivariance_group == "O(3)"
        self.radial = MLP([num_rbf, hidden_channels, 2 * hidden_channels, 3 * hidden_channels], activation_name,
                          activate_last=True)
        # 0-2 mix I, A, S before the message passing, 3-5 after the product.
        self.linears = nn.ModuleList([nn.Linear(hidden_channels, hidden_channels, bias=False) for _ in range(6)])

    def forward(
        self,
        features: torch.Tensor,
        edge_index: torch.Tensor,
        basis: torch.Tensor,
        envelope: torch.Tensor,
        self_basis: torch.Tensor,
        self_envelope: torch.Tensor,
    ) -> torch.Tensor:
        num_atoms, channels = features.shape[0], self.hidden_channels
        centres, neighbours = edge_index[0], edge_index[1]
        weights = (self.radial(basis) * envelope.unsqueeze(-1)).view(-1, 3, channels)
        self_weights = (self.radial(self_basis) * self_envelope).view(3, channels)

        features = features / (squared_norm(features) + 1.0)[..., None, None]
        scalar, antisymmetric, symmetric = decompose(features)
        scalar = self.linears[0](scalar)
        antisymmetric = mix(self.linears[1].weight, antisymmetric)
        symmetric = mix(self.linears[2].weight, symmetric)
        mixed = compose(scalar, antisymmetric, symmetric)

        # Messages per irreducible part; A travels as its 3-vector.
        vector = unskew(antisymmetric)
        scalar_message = scatter_sum(weights[:, 0] * scalar[neighbours], centres, num_atoms)
        vector_message = scatter_sum(weights[:, 1, :, None] * vector[neighbours], centres, num_atoms)
        symmetric_message = scatter_sum(weights[:, 2, :, None, None] * symmetric[neighbours], centres, num_atoms)
        scalar_message = scalar_message + self_weights[0] * scalar
        vector_message = vector_message + self_weights[1, :, None] * vector
        symmetric_message = symmetric_message + self_weights[2, :, None, None] * symmetric
        message = compose(scalar_message, skew(vector_message), symmetric_message)

        if self.o3:
            product = torch.matmul(message, mixed) + torch.matmul(mixed, message)
        else:
            product = 2.0 * torch.matmul(mixed, message)
        scalar, antisymmetric, symmetric = decompose(product / (squared_norm(product) + 1.0)[..., None, None])
        update = compose(
            self.linears[3](scalar), mix(self.linears[4].weight, antisymmetric), mix(self.linears[5].weight, symmetric)
        )
        return features + update + torch.matmul(update, update)


class TensorNet(AtomisticModel):
    architecture = "tensornet"

    def __init__(
        self,
        elements: List[str],
        cutoff: float = 4.5,
        hidden_channels: int = 128,
        num_interactions: int = 2,
        num_rbf: int = 32,
        activation: str = "silu",
        equivariance_group: str = "O(3)",
        cutoff_lower: float = 0.0,
        trainable_rbf: bool = False,
    ):
        # Embedding: 1 hop; each interaction: 1 more (module docstring).
        super().__init__(elements, cutoff, num_interactions + 1)
        if equivariance_group not in GROUPS:
            raise ValueError(f"equivariance_group must be one of {', '.join(GROUPS)}, got '{equivariance_group}'")
        if not 0.0 <= cutoff_lower < cutoff:
            raise ValueError(f"cutoff_lower must lie in [0, cutoff = {cutoff}), got {cutoff_lower}")
        if num_interactions < 0:
            raise ValueError(f"num_interactions must be >= 0, got {num_interactions}")
        self.cutoff_lower = float(cutoff_lower)
        self.basis = ExpNormalBasis(num_rbf, cutoff, start=cutoff_lower, trainable=trainable_rbf)
        self.basis_cutoff = CosineCutoff(cutoff)
        self.embedding = TensorEmbedding(len(elements), hidden_channels, num_rbf, activation)
        self.interactions = nn.ModuleList(
            [Interaction(hidden_channels, num_rbf, activation, equivariance_group) for _ in range(num_interactions)]
        )
        self.readout_norm = nn.LayerNorm(3 * hidden_channels)
        self.readout = MLP([3 * hidden_channels, hidden_channels, hidden_channels // 2, 1], activation)

    def envelope(self, distances: torch.Tensor) -> torch.Tensor:
        """C(r): the cosine cutoff, or torchmd-net's bump on (cutoff_lower, cutoff)."""
        if self.cutoff_lower > 0.0:
            x = (distances - self.cutoff_lower) / (self.cutoff - self.cutoff_lower)
            bump = 0.5 * (torch.cos(math.pi * (2.0 * x + 1.0)) + 1.0)
            inside = (distances > self.cutoff_lower) & (distances < self.cutoff)
            return bump * inside.to(distances.dtype)
        return self.basis_cutoff(distances)

    def radial_basis(self, distances: torch.Tensor) -> torch.Tensor:
        return self.basis(distances) * self.basis_cutoff(distances).unsqueeze(-1)

    def atomic_outputs(
        self, species: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor
    ) -> torch.Tensor:
        distances = torch.linalg.norm(edge_vectors, dim=-1)  # every edge has r > 0
        directions = edge_vectors / distances.unsqueeze(-1)
        basis = self.radial_basis(distances)
        envelope = self.envelope(distances)
        zero = torch.zeros(1, dtype=edge_vectors.dtype, device=edge_vectors.device)
        self_basis, self_envelope = self.radial_basis(zero), self.envelope(zero)

        features = self.embedding(species, edge_index, directions, basis, envelope, self_basis, self_envelope)
        for interaction in self.interactions:
            features = interaction(features, edge_index, basis, envelope, self_basis, self_envelope)

        scalar, antisymmetric, symmetric = decompose(features)
        invariants = torch.cat([3.0 * scalar * scalar, squared_norm(antisymmetric), squared_norm(symmetric)], -1)
        return self.readout(self.readout_norm(invariants)).squeeze(-1)
