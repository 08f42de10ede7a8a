"""TensorNet (Simeon & De Fabritiis, "TensorNet: Cartesian Tensor Representations for
Efficient Learning of Molecular Potentials", NeurIPS 2023; reference implementation
torchmd-net 3.1 `torchmdnet/models/tensornet.py`).

Every atom carries F rank-2 Cartesian tensors X (3x3 matrices), handled through their
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

How it is computed (the same function as written above, arranged for speed):
- Channels last: matrices are [N, 3, 3, F] and parts I [N, F], a [N, 3, F] (the vector of
  A) and s [N, 5, F] (the entries xx, yy, xy, xz, yz of S), so that per-edge products
  multiply contiguous rows of F channels and channel mixing is one matrix product.
- Each pair of atoms once: every per-edge weight depends on the distance only, so it is
  computed on one edge per pair (`undirected_edges`) and the message goes both ways.
- Messages in chunks of pairs (`messages`): the per-pair [chunk, K, F] temporaries stay
  under 16 MiB, so that malloc reuses their memory rather than mapping (and page-faulting)
  fresh [pairs, K, F] tensors on every call; the sums are the same.
- Embedding: Linear([z_i, z_j]) = W_a z_i + b + W_b z_j is the same for all neighbours
  j of one element, and the radial projections are linear in the radial features; so
  the geometric terms C(r) [rbf(r), 1] (x) (1, r^, r^r^T - Id/3) are summed per atom and
  neighbour element first, and projected to F channels per atom afterwards.

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
from torch.nn.functional import linear

from ..nn import (MLP, CosineCutoff, ExpNormalBasis, data_dependent_size, scatter_add_rows, tracing_symbolically,
                  undirected_edges)
from .base import AtomisticModel

GROUPS = ("O(3)", "SO(3)")

# A tensor of every atom and channel is kept either as a matrix [N, 3, 3, F] (for the
# products X Y) or as its irreducible parts (I, a, s): I [N, F] = tr(X) / 3; a [N, 3, F],
# the vector of A = skew(a); s [N, 5, F], the entries (xx, yy, xy, xz, yz) of S, whose
# zz = -xx - yy. 1 + 3 + 5 = 9 numbers: the parts hold exactly the matrix. Channels come
# last so that mixing them is `linear` on the last axis.


def decompose(matrix: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[N, 3, 3, F] -> its parts (I [N, F], a [N, 3, F], s [N, 5, F])."""
    rows = matrix.unbind(1)
    x00, x01, x02 = rows[0].unbind(1)
    x10, x11, x12 = rows[1].unbind(1)
    x20, x21, x22 = rows[2].unbind(1)
    scalar = (x00 + x11 + x22) / 3.0
    vector = 0.5 * torch.stack([x21 - x12, x02 - x20, x10 - x01], 1)
    symmetric = torch.stack([x00 - scalar, x11 - scalar, 0.5 * (x01 + x10), 0.5 * (x02 + x20), 0.5 * (x12 + x21)], 1)
    return scalar, vector, symmetric


def compose(scalar: torch.Tensor, vector: torch.Tensor, symmetric: torch.Tensor) -> torch.Tensor:
    """The matrix I Id + skew(a) + S [N, 3, 3, F] of the parts (skew(a) w = a x w)."""
    ax, ay, az = vector.unbind(1)
    sxx, syy, sxy, sxz, syz = symmetric.unbind(1)
    szz = -(sxx + syy)
    entries = [scalar + sxx, sxy - az, sxz + ay,
               sxy + az, scalar + syy, syz - ax,
               sxz - ay, syz + ax, scalar + szz]
    return torch.stack(entries, 1).view(scalar.shape[0], 3, 3, scalar.shape[1])


def part_norms(scalar: torch.Tensor, vector: torch.Tensor, symmetric: torch.Tensor) -> List[torch.Tensor]:
    """Squared Frobenius norms [N, F] of the matrices I Id, A and S (no square root:
    smooth at 0); they sum to the squared norm of the whole matrix."""
    sxx, syy, off_diagonal = symmetric[:, 0], symmetric[:, 1], symmetric[:, 2:]
    diagonal = sxx * sxx + syy * syy + (sxx + syy) * (sxx + syy)
    off_diagonal = 2.0 * (off_diagonal * off_diagonal).sum(1)
    return [3.0 * scalar * scalar, 2.0 * (vector * vector).sum(1), diagonal + off_diagonal]


def squared_norm(matrix: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm [N, F] of [N, 3, 3, F]."""
    return (matrix * matrix).sum((1, 2))


def matmul(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """The 3x3 matrix product of every atom and channel, [N, 3, 3, F] x [N, 3, 3, F]:
    (L R)_ab = sum_c L_ac R_cb, as one broadcast product [N, a, c, b, F] summed over c
    (a batched matmul would multiply N F separate 3x3 matrices)."""
    return (left.unsqueeze(3) * right.unsqueeze(1)).sum(2)


def messages(weights: torch.Tensor, parts: torch.Tensor, first: torch.Tensor, second: torch.Tensor,
             back: torch.Tensor, chunk_bytes: int = 16777216) -> torch.Tensor:
    """sum_j w_ij x_j for every atom i, over the pairs of `TensorNet.atomic_outputs`: parts
    x [N, K, F], weights w [pairs, F] the same in both directions. Each pair sends x_j to
    i = first and x_i to j = back (the spare row N for an atom's own periodic image, whose
    reverse edge is a pair of its own).

    In chunks of pairs whose [chunk, K, F] products stay under `chunk_bytes` (16 MiB):
    the same sums, but the temporaries of the gather, product and scatter (and of their
    backward) are small enough for malloc to reuse the same memory chunk after chunk,
    instead of mapping fresh pages for every [pairs, K, F] tensor, whose first-touch page
    faults cost more than the arithmetic (benchmarks/RESULTS.md, TensorNet)."""
    weights = weights.unsqueeze(1)
    out = parts.new_zeros([parts.shape[0] + 1, parts.shape[1], parts.shape[2]])
    chunk = max(1, chunk_bytes // (parts.shape[1] * parts.shape[2] * parts.element_size()))
    # one split of the weights (its backward is one concatenation; slices would each
    # have a zero-filled full-size gradient)
    if tracing_symbolically():  # the number of pairs is a symbol: all in one chunk
        pieces, centres, neighbours, backs = [weights], [first], [second], [back]
    else:
        pieces = torch.split(weights, chunk)
        centres, neighbours, backs = torch.split(first, chunk), torch.split(second, chunk), torch.split(back, chunk)
    for k in range(len(pieces)):
        weight, centre = pieces[k], centres[k]
        out = scatter_add_rows(out, centre, weight * parts.index_select(0, neighbours[k]))
        out = scatter_add_rows(out, backs[k], weight * parts.index_select(0, centre))
    return out[:-1]


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
        first: torch.Tensor,
        second: torch.Tensor,
        back: torch.Tensor,
        directions: torch.Tensor,
        basis: torch.Tensor,
        envelope: torch.Tensor,
        self_basis: torch.Tensor,
        self_envelope: torch.Tensor,
    ) -> torch.Tensor:
        num_atoms, features = species.shape[0], self.hidden_channels
        # Edge (i, j) weighs its geometry by Z_ij * C(r) (W rbf(r) + b), the pair embedding
        # Z_ij = W_a z_i + b_a + W_b z_j times the radial projections. Z_ij depends on j only
        # through its element k (numbered among the elements present): Z_ik = centre_i +
        # neighbour_k. So sum each atom's terms per "slot" (i, k) and apply Z_ik after.
        weight = self.pair_embedding.weight
        centre = linear(self.embedding(species), weight[:, :features], self.pair_embedding.bias)
        num_elements = self.embedding.num_embeddings
        if tracing_symbolically():  # every element, so that `kinds` is a fixed size
            present = torch.ones(num_elements, dtype=torch.bool, device=species.device)
        else:
            present = torch.bincount(species, minlength=num_elements) > 0
        kinds = data_dependent_size(present.sum(), minimum=1)
        kind = (torch.cumsum(present.to(torch.long), 0) - 1).index_select(0, species)
        neighbour = linear(self.embedding.weight[present], weight[:, features:])  # [kinds, F]
        pair = centre.unsqueeze(1) + neighbour  # Z_ik [N, kinds, F]
        slots = (num_atoms + 1) * kinds  # atom N: the spare row of `messages`
        to_first = first * kinds + kind.index_select(0, second)
        to_second = back * kinds + kind.index_select(0, first)

        # Geometry of each pair seen from its first atom: Id, r^ (for A), r^ r^T - Id/3 (for
        # S: xx, yy, xy, xz, yz). Seen from the second atom r^ changes sign, the rest not.
        x, y, z = directions.unbind(1)
        geometry = torch.stack([torch.ones_like(x), x, y, z,
                                x * x - 1.0 / 3.0, y * y - 1.0 / 3.0, x * y, x * z, y * z], 1)
        # C(r) (W rbf(r) + b) is linear in C(r) [rbf(r), 1]: sum that times the geometry per
        # slot [slots, 9, R + 1], then project each slot to F channels (not each pair).
        radial = torch.cat([basis, torch.ones_like(envelope).unsqueeze(-1)], 1) * envelope.unsqueeze(-1)
        terms = geometry.unsqueeze(2) * radial.unsqueeze(1)
        sums = radial.new_zeros([2 * slots, 9, radial.shape[1]])  # second atoms' sums after the first's
        sums = scatter_add_rows(scatter_add_rows(sums, to_first, terms), to_second + slots, terms)
        sign = torch.tensor([1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 1.0], dtype=sums.dtype, device=sums.device)
        sums = sums[:slots] + sign.unsqueeze(-1) * sums[slots:]
        sums = sums.view(num_atoms + 1, kinds, 9, radial.shape[1])[:num_atoms]
        projection = torch.cat([self.distance_projection.weight, self.distance_projection.bias.unsqueeze(-1)], 1)
        projection = projection.view(3, features, radial.shape[1])  # [W, b] for Id, skew(r^), r^r^T - Id/3

        # I_i = sum_j w0_ij, a_i = sum_j w1_ij r^_ij, S_i = sum_j w2_ij (r^ r^T - Id/3).
        # (contiguous slices: one matrix product each rather than one per slot)
        scalar = (pair * linear(sums[:, :, 0].contiguous(), projection[0])).sum(1)
        vector = (pair.unsqueeze(2) * linear(sums[:, :, 1:4].contiguous(), projection[1])).sum(1)
        symmetric = (pair.unsqueeze(2) * linear(sums[:, :, 4:].contiguous(), projection[2])).sum(1)
        # The self-loop (r = 0, r^ = 0) only has the Id term.
        self_radial = self.distance_projection(self_basis)[:, :features] * self_envelope
        scalar = scalar + (centre + neighbour.index_select(0, kind)) * self_radial

        norms = part_norms(scalar, vector, symmetric)
        gates = self.norm(norms[0] + norms[1] + norms[2])
        gates = self.gates(gates).view(-1, 3, features)
        scalar = self.linears[0](scalar) * gates[:, 0]
        vector = self.linears[1](vector) * gates[:, 1:2]
        symmetric = self.linears[2](symmetric) * gates[:, 2:3]
        return compose(scalar, vector, symmetric)


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
        first: torch.Tensor,
        second: torch.Tensor,
        back: torch.Tensor,
        basis: torch.Tensor,
        envelope: torch.Tensor,
        self_basis: torch.Tensor,
        self_envelope: torch.Tensor,
    ) -> torch.Tensor:
        channels = self.hidden_channels
        # f(r) C(r) of each pair (the same both ways); unbind, not indexing, so that the
        # gradient is one stack rather than a zero-filled copy per part.
        weights = (self.radial(basis) * envelope.unsqueeze(-1)).view(-1, 3, channels)
        scalar_weights, vector_weights, symmetric_weights = weights.unbind(1)
        self_weights = (self.radial(self_basis) * self_envelope).view(3, 1, channels)

        features = features / (squared_norm(features) + 1.0)[:, None, None]
        scalar, vector, symmetric = decompose(features)
        scalar = self.linears[0](scalar).unsqueeze(1)
        vector = self.linears[1](vector)
        symmetric = self.linears[2](symmetric)
        mixed = compose(scalar.squeeze(1), vector, symmetric)

        # M_i = sum_j f0 I_j + f1 A_j + f2 S_j, plus the self-loop's f(0) times i's own parts.
        scalar = self_weights[0] * scalar + messages(scalar_weights, scalar, first, second, back)
        vector = self_weights[1] * vector + messages(vector_weights, vector, first, second, back)
        symmetric = self_weights[2] * symmetric + messages(symmetric_weights, symmetric, first, second, back)
        message = compose(scalar.squeeze(1), vector, symmetric)

        if self.o3:
            product = matmul(message, mixed) + matmul(mixed, message)
        else:
            product = 2.0 * matmul(mixed, message)
        scalar, vector, symmetric = decompose(product / (squared_norm(product) + 1.0)[:, None, None])
        update = compose(self.linears[3](scalar), self.linears[4](vector), self.linears[5](symmetric))
        return features + update + matmul(update, update)


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
        # Every per-edge weight depends on the distance only: compute it once per pair of
        # atoms, on its i < j edge (export/SPEC.md's edge list holds the reverse j -> i
        # too), and send messages both ways. An atom's edges to its own periodic images
        # (i == j) come in +-r couples that are pairs of their own: their second atom is
        # the spare row N, which nobody reads. Pairs sorted by their first atom: summing
        # rows into atoms in order is several times faster (scatter_add_ on the CPU).
        edges, _ = undirected_edges(edge_index)
        edges = edges.index_select(0, torch.argsort(edge_index[0].index_select(0, edges)))
        first, second = edge_index[0].index_select(0, edges), edge_index[1].index_select(0, edges)
        back = second.masked_fill(first == second, species.shape[0])
        vectors = edge_vectors.index_select(0, edges)
        distances = torch.linalg.norm(vectors, dim=-1)  # every edge has r > 0
        directions = vectors / distances.unsqueeze(-1)
        basis = self.radial_basis(distances)
        envelope = self.envelope(distances)
        zero = torch.zeros(1, dtype=edge_vectors.dtype, device=edge_vectors.device)
        self_basis, self_envelope = self.radial_basis(zero), self.envelope(zero)

        features = self.embedding(species, first, second, back, directions, basis, envelope, self_basis,
                                  self_envelope)
        for interaction in self.interactions:
            features = interaction(features, first, second, back, basis, envelope, self_basis, self_envelope)

        scalar, vector, symmetric = decompose(features)
        invariants = torch.cat(part_norms(scalar, vector, symmetric), -1)
        return self.readout(self.readout_norm(invariants)).squeeze(-1)
