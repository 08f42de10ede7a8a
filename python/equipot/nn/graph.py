"""Graph helpers built inside a model from the edge list alone (export/SPEC.md:
edge e = (i, j) has centre i = edge_index[0, e], neighbour j = edge_index[1, e] and
vector r_j - r_i)."""

from typing import Tuple

import torch

from .scatter import scatter_add_rows, scatter_sum


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
    return torch.cat([pairs, self_images]), int(pairs.shape[0])


def scatter_two_way(to_first: torch.Tensor, to_second: torch.Tensor, first: torch.Tensor, second: torch.Tensor,
                    num_pairs: int, size: int) -> torch.Tensor:
    """Messages of undirected edges (see undirected_edges), `first`/`second` their
    atoms: row e of `to_first` goes to atom first[e] for every edge, row p of
    `to_second` to atom second[p] for the num_pairs i < j edges only."""
    out = scatter_sum(to_first, first, size)
    return scatter_add_rows(out, second[:num_pairs], to_second)


def triplets(edge_index: torch.Tensor, edge_vectors: torch.Tensor, num_atoms: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """All pairs of edges (k -> j, j -> i) that share atom j, for directional message
    passing (DimeNet): returns (edge_kj, edge_ji), indices into the edge list, where
    edge_ji = (i, j) is an edge of centre i with neighbour j and edge_kj = (j, k) an
    edge of centre j with neighbour k.

    The only pair left out is the reverse edge itself (k the very image of i that
    edge_ji came from). It is recognised by its vector, r_jk = -r_ij, and not by
    k != i: in a small periodic cell j can meet several images of i, and those other
    images are genuine triplets. Cost and memory are O(sum over edges of the degree
    of their neighbour), i.e. O(E k); the edge order does not matter."""
    centres, neighbours = edge_index[0], edge_index[1]
    num_edges = centres.shape[0]
    degree = torch.bincount(centres, minlength=num_atoms)
    # The edges of each centre atom, contiguous: by_centre[first[a] : first[a] + degree[a]].
    by_centre = torch.argsort(centres, stable=True)
    first = torch.cumsum(degree, 0) - degree
    # Edge ji pairs with each of the degree[j] edges of centre j.
    partners = degree[neighbours]
    edge_ji = torch.repeat_interleave(torch.arange(num_edges, device=centres.device), partners)
    start_of_block = torch.repeat_interleave(torch.cumsum(partners, 0) - partners, partners)
    position = torch.arange(edge_ji.shape[0], device=centres.device) - start_of_block
    edge_kj = by_centre[first[neighbours[edge_ji]] + position]
    # Reverse edge: k is i and r_jk = -r_ij. Another image of i sits a whole lattice
    # vector away from it, far above the 1e-6 A tolerance.
    same_atom = neighbours[edge_kj] == centres[edge_ji]
    coincide = (edge_vectors[edge_kj] + edge_vectors[edge_ji]).detach().abs().sum(-1) < 1e-6
    keep = ~(same_atom & coincide)
    return edge_kj[keep], edge_ji[keep]
