"""DimeNet++ (Gasteiger, Giri, Margraf, Guennemann 2020, "Fast and Uncertainty-Aware
Directional Message Passing for Non-Equilibrium Molecules", arXiv:2011.14115), the
faster version of DimeNet (Klicpera, Gross, Guennemann, ICLR 2020).

Messages live on directed edges m_ji (centre i, neighbour j):
- radial basis of an edge, in units x = d / cutoff as the reference: sin(F_n x)/x
  u(x) (= cutoff sin(f_n d)/d u(d), Bessel functions with trainable frequencies f_n,
  initially n pi / cutoff, without the paper's sqrt(2/c), whose O(1) values keep
  the signal of far hops alive), u the polynomial envelope (p = envelope_exponent
  + 1; 1 at d = 0, vanishing with two derivatives at the cutoff);
- spherical basis of a triplet k -> j -> i: N_ln j_l(z_ln x) u(x) Y_l0(alpha)
  (equipot.nn.SphericalBesselBasis, zonal_spherical_harmonics), alpha the angle
  between the bonds r_j - r_i and r_k - r_j (the reference's choice: pi minus the
  angle at j, which only flips the sign of odd l, absorbed by the weights);
- embedding block: m_ji = act(W [h_i, h_j, act(W_rbf rbf_ji)]), h the element
  embeddings;
- interaction block: m_kj, gated by the projected radial basis of its edge and
  projected down to int_emb_size, times the spherical basis (projected through
  basis_emb_size to int_emb_size), summed over k into m_ji, projected up, added to
  act(W m_ji); residual layers before and after a skip connection to m_ji;
- output block after the embedding and after every interaction: the messages,
  gated by the projected radial basis, summed onto their centre atom, projected up
  to out_emb_channels and sent through num_output_layers dense layers to one number;
  an atom's energy is the sum over the output blocks.
Triplets come from equipot.nn.triplet_blocks (the reverse edge excluded by identity,
so small periodic cells with several images of an atom are right; the reference
drops every k = i), as one dense block per middle atom j: the sum over k of each
interaction is then a batched matrix product (per basis channel) rather than the
reference's per-triplet gather, product and scatter of [triplets x 64] tensors; the
result is the same sum. cos(alpha) is the dot product of the two bond vectors over the
product of their lengths: the reference's atan2(|a x b|, a . b) has a NaN gradient
for exactly collinear triplets (the norm of a zero cross product), which chains and
crystals produce; the cosine is all the basis needs (Y_l0 is a polynomial in it).
Parameters start as in the reference (reset_parameters).

Defaults are the paper's and the reference's (klicperajo/dimenet config_pp.yaml,
torch-geometric's DimeNetPlusPlus): hidden 128, out_emb 256, int_emb 64, basis_emb
8, 4 blocks, 7 spherical x 6 radial, cutoff 5 A, envelope exponent 5, 1 residual
layer before and 2 after the skip, 3 output layers, swish (= SiLU).

`reference_quirks` (the "known issues" of gasteigerjo/dimenet, kept by
torch-geometric; only the spherical basis differs, the parameters are the same):
- True reproduces torch-geometric exactly (the converter sets it). Its envelope is
  u(x)/x: in the radial basis that 1/x is the Bessel function's own 1/d, but it
  also divides the spherical basis, j_l(z x) u(x) / x; and the spherical basis of
  the triplet (kj, ji) takes its radial part at d_kj.
- False (default): the forms the paper means and the authors give as the fix,
  N_ln j_l(z_ln x_ji) u(x_ji) Y_l0(alpha): no 1/x, and the distance of the message
  being updated, d_ji.
"""

from typing import List

import torch
from torch import nn

from ..nn import (MLP, BesselBasis, PolynomialEnvelope, SphericalBesselBasis, activation, scatter_sum,
                  triplet_blocks, zonal_spherical_harmonics)
from .base import AtomisticModel


@torch.no_grad()
def _glorot_orthogonal_(weight: torch.Tensor, scale: float) -> None:
    """An orthogonal matrix rescaled to variance scale / (fan_in + fan_out)."""
    nn.init.orthogonal_(weight)
    weight.mul_(torch.sqrt(scale / ((weight.shape[0] + weight.shape[1]) * weight.var())))


class ResidualLayer(nn.Module):
    """x + act(W2 act(W1 x))."""

    def __init__(self, channels: int, activation_name: str):
        super().__init__()
        self.mlp = MLP([channels, channels, channels], activation_name, activate_last=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(x)


class EmbeddingBlock(nn.Module):
    def __init__(self, num_elements: int, num_radial: int, hidden_channels: int, activation_name: str):
        super().__init__()
        self.embedding = nn.Embedding(num_elements, hidden_channels)
        self.lin_rbf = nn.Linear(num_radial, hidden_channels)
        self.lin = nn.Linear(3 * hidden_channels, hidden_channels)
        self.act = activation(activation_name)

    def forward(self, species: torch.Tensor, rbf: torch.Tensor, centres: torch.Tensor,
                neighbours: torch.Tensor) -> torch.Tensor:
        h = self.embedding(species)
        radial = self.act(self.lin_rbf(rbf))
        return self.act(self.lin(torch.cat([h.index_select(0, centres), h.index_select(0, neighbours), radial], dim=-1)))


class InteractionBlock(nn.Module):
    def __init__(self, hidden_channels: int, int_emb_size: int, basis_emb_size: int, num_spherical: int,
                 num_radial: int, num_before_skip: int, num_after_skip: int, activation_name: str):
        super().__init__()
        self.act = activation(activation_name)
        self.lin_rbf1 = nn.Linear(num_radial, basis_emb_size, bias=False)
        self.lin_rbf2 = nn.Linear(basis_emb_size, hidden_channels, bias=False)
        self.lin_sbf1 = nn.Linear(num_spherical * num_radial, basis_emb_size, bias=False)
        self.lin_sbf2 = nn.Linear(basis_emb_size, int_emb_size, bias=False)
        self.lin_kj = nn.Linear(hidden_channels, hidden_channels)
        self.lin_ji = nn.Linear(hidden_channels, hidden_channels)
        self.lin_down = nn.Linear(hidden_channels, int_emb_size, bias=False)
        self.lin_up = nn.Linear(int_emb_size, hidden_channels, bias=False)
        self.layers_before_skip = nn.ModuleList(
            [ResidualLayer(hidden_channels, activation_name) for _ in range(num_before_skip)])
        self.lin = nn.Linear(hidden_channels, hidden_channels)
        self.layers_after_skip = nn.ModuleList(
            [ResidualLayer(hidden_channels, activation_name) for _ in range(num_after_skip)])

    def forward(self, messages: torch.Tensor, rbf: torch.Tensor, basis: torch.Tensor, outgoing: torch.Tensor,
                slot_of_incoming: torch.Tensor) -> torch.Tensor:
        """basis [N, A, B * C]: this block's lin_sbf1 projection of the spherical basis
        (C channels) for each middle atom j, incoming edge ji (slot a) and outgoing edge
        kj (slot b); DimeNetPlusPlus.spherical_basis computes it."""
        x_ji = self.act(self.lin_ji(messages))
        x_kj = self.act(self.lin_kj(messages)) * self.lin_rbf2(self.lin_rbf1(rbf))
        x_kj = self.act(self.lin_down(x_kj))
        # m_ji = sum over k and channels c of basis_c(kji) W2_c x_kj: per middle atom j
        # one matrix product [A x (B C)] @ [(B C) x F], the rows of the right factor
        # being x_kj scaled by W2_c. The same sum as the reference's per-triplet
        # gather, product and scatter, without any triplet-by-feature tensor.
        num_atoms, num_in, num_out = basis.shape[0], basis.shape[1], outgoing.shape[1]
        channels, features = self.lin_sbf2.weight.shape[1], x_kj.shape[1]
        x_out = torch.cat([x_kj, x_kj.new_zeros(1, features)]).index_select(0, outgoing.flatten())
        scaled = x_out.view(num_atoms, num_out, 1, features) * self.lin_sbf2.weight.t().reshape(1, 1, channels, features)
        per_slot = torch.bmm(basis, scaled.reshape(num_atoms, num_out * channels, features))  # [N, A, F]
        x_kj = per_slot.view(num_atoms * num_in, features).index_select(0, slot_of_incoming)
        x_kj = self.act(self.lin_up(x_kj))
        h = x_ji + x_kj
        for layer in self.layers_before_skip:
            h = layer(h)
        h = self.act(self.lin(h)) + messages
        for layer in self.layers_after_skip:
            h = layer(h)
        return h


class OutputBlock(nn.Module):
    def __init__(self, num_radial: int, hidden_channels: int, out_emb_channels: int, num_layers: int,
                 activation_name: str):
        super().__init__()
        self.lin_rbf = nn.Linear(num_radial, hidden_channels, bias=False)
        self.lin_up = nn.Linear(hidden_channels, out_emb_channels, bias=False)
        # num_layers x (Linear, act), then a bias-free Linear to one number
        self.layers = (MLP([out_emb_channels] * (num_layers + 1), activation_name, activate_last=True)
                       if num_layers > 0 else nn.Identity())
        self.lin = nn.Linear(out_emb_channels, 1, bias=False)

    def forward(self, messages: torch.Tensor, rbf: torch.Tensor, centres: torch.Tensor, num_atoms: int) -> torch.Tensor:
        atoms = scatter_sum(self.lin_rbf(rbf) * messages, centres, num_atoms)
        return self.lin(self.layers(self.lin_up(atoms))).squeeze(-1)


class DimeNetPlusPlus(AtomisticModel):
    architecture = "dimenet++"

    def __init__(
        self,
        elements: List[str],
        cutoff: float = 5.0,
        hidden_channels: int = 128,
        out_emb_channels: int = 256,
        int_emb_size: int = 64,
        basis_emb_size: int = 8,
        num_blocks: int = 4,
        num_spherical: int = 7,
        num_radial: int = 6,
        envelope_exponent: int = 5,
        num_before_skip: int = 1,
        num_after_skip: int = 2,
        num_output_layers: int = 3,
        activation: str = "silu",
        reference_quirks: bool = False,
    ):
        # Receptive field: the embedding block makes m_ji from both ends of edge ji
        # (atoms one hop from i); each interaction block updates m_ji from the m_kj
        # of j's neighbours k, one hop further; the output block of atom i reads its
        # m_ji. So atom i's energy sees num_blocks + 1 hops.
        super().__init__(elements, cutoff, num_blocks + 1)
        if num_spherical < 1 or num_radial < 1 or num_blocks < 1:
            raise ValueError("num_spherical, num_radial and num_blocks must be at least 1")
        self.num_spherical = int(num_spherical)
        self.num_radial = int(num_radial)
        self.reference_quirks = bool(reference_quirks)
        # sin(F x)/x u(x) with x = d / cutoff (the reference's units: O(1) values, no
        # sqrt(2/c)) = cutoff * sin(f d)/d u(d) with f = F / cutoff in 1/A.
        self.radial = BesselBasis(num_radial, cutoff, normalize=False, trainable=True)
        self.envelope = PolynomialEnvelope(cutoff, p=envelope_exponent + 1)
        self.spherical_radial = SphericalBesselBasis(num_spherical, num_radial, cutoff)
        self.embedding = EmbeddingBlock(len(elements), num_radial, hidden_channels, activation)
        self.interactions = nn.ModuleList([
            InteractionBlock(hidden_channels, int_emb_size, basis_emb_size, num_spherical, num_radial,
                             num_before_skip, num_after_skip, activation)
            for _ in range(num_blocks)
        ])
        self.outputs = nn.ModuleList([
            OutputBlock(num_radial, hidden_channels, out_emb_channels, num_output_layers, activation)
            for _ in range(num_blocks + 1)
        ])
        self.reset_parameters()

    @torch.jit.unused
    def reset_parameters(self) -> None:
        """The reference initialisation (torch-geometric's): element embeddings uniform
        in +-sqrt(3), the embedding block's linear layers PyTorch's default, every
        other weight Glorot-orthogonal with scale 2 and zero biases, and the last
        layer of each output block zero, so that an untrained model predicts 0.
        PyTorch's default initialisation instead damps the signal of each hop so
        much (every message is gated by products of small basis projections) that
        atoms three hops away barely register."""
        nn.init.uniform_(self.embedding.embedding.weight, -3.0**0.5, 3.0**0.5)
        self.embedding.lin_rbf.reset_parameters()
        self.embedding.lin.reset_parameters()
        for block in list(self.interactions) + list(self.outputs):
            for module in block.modules():
                if isinstance(module, nn.Linear):
                    _glorot_orthogonal_(module.weight, 2.0)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
        for block in self.outputs:
            nn.init.zeros_(block.lin.weight)

    def spherical_basis(self, weight: torch.Tensor, radial: torch.Tensor, angular: torch.Tensor,
                        incoming: torch.Tensor, outgoing: torch.Tensor) -> torch.Tensor:
        """One block's lin_sbf1 (`weight` [C, L*R]) applied to the spherical basis
        sbf(kji)[l, n] = radial(edge)[l, n] * angular(kji)[l], the edge being ji, or kj
        under reference_quirks. radial: [E + 1, L, R], the last row zero (empty slots);
        angular: [N, A, B, L]. Returns [N, A, B * C] (middle atom j, incoming slot a,
        then outgoing slot b and channel c).
        The radial factor depends on one edge only, so it meets the weights per edge
        first, W1 . sbf = sum_l angular[l] (sum_n radial[l, n] W1[c, l, n]): per triplet
        L numbers times an L x C matrix instead of an L*R basis times L*R x C weights,
        and no triplet-sized basis is ever formed."""
        num_atoms, num_in, num_out, num_l = angular.shape[0], angular.shape[1], angular.shape[2], angular.shape[3]
        channels = weight.shape[0]
        per_edge = torch.einsum("eln,cln->elc", radial, weight.view(channels, self.num_spherical, self.num_radial))
        if self.reference_quirks:
            per_slot = per_edge.index_select(0, outgoing.flatten())  # [N * B, L, C]
            basis = torch.bmm(angular.transpose(1, 2).reshape(num_atoms * num_out, num_in, num_l), per_slot)
            basis = basis.view(num_atoms, num_out, num_in, channels).transpose(1, 2)
        else:
            per_slot = per_edge.index_select(0, incoming.flatten())  # [N * A, L, C]
            basis = torch.bmm(angular.view(num_atoms * num_in, num_out, num_l), per_slot)
        return basis.reshape(num_atoms, num_in, num_out * channels)

    def atomic_outputs(
        self, species: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor
    ) -> torch.Tensor:
        num_atoms = species.shape[0]
        centres, neighbours = edge_index[0], edge_index[1]
        distances = torch.linalg.norm(edge_vectors, dim=-1)
        envelope = self.envelope(distances)
        rbf = self.cutoff * self.radial(distances) * envelope.unsqueeze(-1)

        incoming, outgoing, valid, slot_of_incoming = triplet_blocks(edge_index, edge_vectors, num_atoms)
        # Per middle atom j: edge ji in incoming slot a, edge kj in outgoing slot b.
        # Empty slots get a unit vector and length 1 (finite angles; masked below).
        padded_vectors = torch.cat([edge_vectors, edge_vectors.new_full((1, 3), 3**-0.5)])
        padded_distances = torch.cat([distances, distances.new_ones(1)])
        num_in, num_out = incoming.shape[1], outgoing.shape[1]
        vector_in = padded_vectors.index_select(0, incoming.flatten()).view(num_atoms, num_in, 3)
        vector_out = padded_vectors.index_select(0, outgoing.flatten()).view(num_atoms, num_out, 3)
        length_in = padded_distances.index_select(0, incoming.flatten()).view(num_atoms, num_in, 1)
        length_out = padded_distances.index_select(0, outgoing.flatten()).view(num_atoms, 1, num_out)
        # cos of the angle between r_j - r_i (edge ji) and r_k - r_j (edge kj), [N, A, B]
        cos_alpha = torch.bmm(vector_in, vector_out.transpose(1, 2)) / (length_in * length_out)
        angular = zonal_spherical_harmonics(cos_alpha, self.num_spherical - 1) * valid.unsqueeze(-1).to(cos_alpha.dtype)
        radial = self.spherical_radial(distances)  # [E, L, R]
        if self.reference_quirks:
            # envelope u(x)/x, radial part at d_kj
            radial = radial * (envelope * self.cutoff / distances).unsqueeze(-1).unsqueeze(-1)
        else:
            radial = radial * envelope.unsqueeze(-1).unsqueeze(-1)
        radial = torch.cat([radial, radial.new_zeros(1, self.num_spherical, self.num_radial)])  # row for empty slots

        # The messages after the embedding and after each interaction, for the output
        # block of the same index (a list, since TorchScript cannot zip a sliced ModuleList).
        # (index_select throughout: its backward is an index_add, x[index]'s a slower
        # index_put)
        messages = [self.embedding(species, rbf, centres, neighbours)]
        for interaction in self.interactions:
            basis = self.spherical_basis(interaction.lin_sbf1.weight, radial, angular, incoming, outgoing)
            messages.append(interaction(messages[-1], rbf, basis, outgoing, slot_of_incoming))
        energies = torch.zeros(num_atoms, dtype=edge_vectors.dtype, device=edge_vectors.device)
        for index, output in enumerate(self.outputs):
            energies = energies + output(messages[index], rbf, centres, num_atoms)
        return energies
