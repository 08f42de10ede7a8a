"""Graph helpers built inside a model from the edge list alone (export/SPEC.md:
edge e = (i, j) has centre i = edge_index[0, e], neighbour j = edge_index[1, e] and
vector r_j - r_i)."""

from typing import Tuple

import torch

from .scatter import scatter_add_rows, scatter_sum
from .symbolic import data_dependent_size


def undirected_edges(edge_index: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """The edges that stand for each pair of atoms once, for models whose per-edge
    work depends only on the pair (a filter of the distance): returns (indices into
    the edge list, num_pairs). The first num_pairs indices are the edges with i < j;
    SPEC.md's edge list is full, so the reverse edge j -> i, with the same distance
    and the opposite vector, exists and is left out here: a model computes the pair's
    filter once and sends messages both ways (scatter_two_way). The rest are edges
    with i == j (an atom and its own periodic image), where both directions are
    already edges of their own and each is used one way.

    Equal to using every directed edge in exact arithmetic, at half the per-edge cost.
    It relies on SPEC.md's rule that the reverse of every edge is present, except for
    edges into nodes that have no edges of their own (the outermost ghost nodes of a
    domain-decomposed caller, numbered after all others): those stay i < j edges and
    only add messages to such nodes, which cannot reach an energy the caller sums."""
    first, second = edge_index[0], edge_index[1]
    pairs = torch.nonzero(first < second).squeeze(1)
    self_images = torch.nonzero(first == second).squeeze(1)
    return torch.cat([pairs, self_images]), pairs.shape[0]


def scatter_two_way(to_first: torch.Tensor, to_second: torch.Tensor, first: torch.Tensor, second: torch.Tensor,
                    num_pairs: int, size: int) -> torch.Tensor:
    """Messages of undirected edges (see undirected_edges), `first`/`second` their
    atoms: row e of `to_first` goes to atom first[e] for every edge, row p of
    `to_second` to atom second[p] for the num_pairs i < j edges only."""
    out = scatter_sum(to_first, first, size)
    return scatter_add_rows(out, second[:num_pairs], to_second)


def edge_slots(owner: torch.Tensor, num_atoms: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Each atom's edges in one padded row: `owner[e]` is the atom edge e belongs to
    (its centre, or its neighbour). Returns (slots [num_atoms, width] with the edge
    ids of each atom in edge order, then num_edges, which stands for "no edge";
    slot_of_edge [num_edges], the flat index atom * width + column of each edge).
    width is the largest number of edges of one atom, at least 2."""
    num_edges = owner.shape[0]
    # a scatter, not bincount: its length is num_atoms, where bincount's is a new size
    # for a compiled model (export.py), which then guards on the example's values
    degree = scatter_sum(torch.ones_like(owner), owner, num_atoms)
    # at least 2: a compiled model (export.py) must not meet matrix products of width 1,
    # which its code generator special-cases on the example structure's value
    width = data_dependent_size(torch.cat([degree, degree.new_full([1], 2)]).max(), minimum=2)
    order = torch.argsort(owner, stable=True)
    sorted_owner = owner.index_select(0, order)
    first = torch.cumsum(degree, 0) - degree
    column = torch.arange(num_edges, device=owner.device) - first.index_select(0, sorted_owner)
    slot_of_edge = torch.empty_like(owner)
    slot_of_edge.index_copy_(0, order, sorted_owner * width + column)
    slots = torch.full((num_atoms * width,), num_edges, dtype=owner.dtype, device=owner.device)
    slots.index_copy_(0, slot_of_edge, torch.arange(num_edges, device=owner.device))
    return slots.view(num_atoms, width), slot_of_edge


def triplet_blocks(edge_index: torch.Tensor, edge_vectors: torch.Tensor,
                   num_atoms: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All pairs of edges (k -> j, j -> i) that share atom j, for directional message
    passing (DimeNet), as one dense block per middle atom j, so that the sum over k
    becomes a batched matrix product instead of per-triplet gathers and scatters.
    edge ji = (i, j) is an edge of centre i with neighbour j, edge kj = (j, k) an edge
    of centre j with neighbour k. Returns
      incoming [N, A]: the edges ji of each atom j (those with neighbour j),
      outgoing [N, B]: its edges kj (those with centre j), both padded with num_edges,
      valid [N, A, B]: whether (incoming[j, a], outgoing[j, b]) is a triplet,
      slot_of_incoming [E]: where each edge sits in `incoming` (flat index j * A + a).

    The only pair of real edges left out is the reverse edge itself (k the very image
    of i that edge ji came from). It is recognised by its vector, r_jk = -r_ij, and
    not by k != i: in a small periodic cell j can meet several images of i, and those
    other images are genuine triplets. Memory is O(N A B), the number of triplets
    when atoms have similar numbers of neighbours; the edge order does not matter."""
    centres, neighbours = edge_index[0], edge_index[1]
    num_edges = centres.shape[0]
    incoming, slot_of_incoming = edge_slots(neighbours, num_atoms)
    outgoing, _ = edge_slots(centres, num_atoms)
    no_atom = centres.new_full((1,), -1)
    centre_of = torch.cat([centres, no_atom]).index_select(0, incoming.flatten()).view(incoming.shape)
    neighbour_of = torch.cat([neighbours, no_atom]).index_select(0, outgoing.flatten()).view(outgoing.shape)
    vectors = torch.cat([edge_vectors.detach(), edge_vectors.new_zeros(1, 3)])
    vector_in = vectors.index_select(0, incoming.flatten()).view(incoming.shape[0], incoming.shape[1], 1, 3)
    vector_out = vectors.index_select(0, outgoing.flatten()).view(outgoing.shape[0], 1, outgoing.shape[1], 3)
    # Reverse edge: k is i and r_jk = -r_ij. Another image of i sits a whole lattice
    # vector away from it, far above the 1e-6 A tolerance.
    reverse = (neighbour_of.unsqueeze(1) == centre_of.unsqueeze(2)) & ((vector_in + vector_out).abs().sum(-1) < 1e-6)
    real = (incoming < num_edges).unsqueeze(2) & (outgoing < num_edges).unsqueeze(1)
    return incoming, outgoing, real & ~reverse, slot_of_incoming


def triplets(edge_index: torch.Tensor, edge_vectors: torch.Tensor, num_atoms: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The triplets of `triplet_blocks` as a flat list (edge_kj, edge_ji) of edge ids."""
    incoming, outgoing, valid, _ = triplet_blocks(edge_index, edge_vectors, num_atoms)
    found = valid.nonzero()
    return outgoing[found[:, 0], found[:, 2]], incoming[found[:, 0], found[:, 1]]
