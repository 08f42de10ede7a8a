"""Channel-wise ('uvu') tensor product of node features with edge spherical harmonics,
with path weights given per edge: the message of a NequIP-style convolution,

    out_p[e, u, k] = w_p[e, u] * a_p * sum_ij x[e, u, i] Y_e[j] C_p[i, j, k]

for every path p = (input irrep l1, harmonic l2 -> output irrep l3), C_p the Wigner
3j symbols and a_p e3nn's path normalisation. The same function as
`e3nn.o3.TensorProduct(..., "uvu", shared_weights=False)`, in e3nn's layouts (each
irrep block [multiplicity, 2l+1]; weights in instruction order), computed with fewer
passes over the [edges, channels, components] data:
- paths are grouped by input irrep and output size 2 l3 + 1; for a group the
  harmonics are contracted with the 3j symbols of all its paths in one small matrix
  product, Z[e, i, (p, k)] = sum_j Y[e, j] a_p C_p[i, j, k] (no channel index);
- scalar inputs (l1 = 0) then need one broadcast product (x w_p)[e, u, p] Z[e, p, k];
  others one batched product x[e, u, i] Z[e, i, (p, k)] and one broadcast product with
  w[e, u, p]: the weights are never expanded over components;
- `sum_over_edges` sums each group over the edges before the columns are put in
  e3nn's order, which then costs atoms, not edges.
e3nn evaluates each path with its own einsum over [edges, channels, i, j].
"""

from typing import List

import torch
from torch import nn

from .scatter import scatter_sum


class EdgeTensorProduct(nn.Module):
    """`forward(x [E, irreps_in.dim], sh [E, irreps_sh.dim], weights [E, weight_numel]
    in e3nn's order) -> [E, irreps_out.dim]`; `instructions` as e3nn's (i_in, i_sh, i_out, "uvu", True),
    one copy of each harmonic, one path per output block (NequIP's layout)."""

    def __init__(self, irreps_in, irreps_sh, irreps_out, instructions):
        super().__init__()
        from e3nn import o3

        # e3nn's own TensorProduct is built only to read its normalised instructions
        # (path weights), so that the maths is e3nn's by construction.
        reference = o3.TensorProduct(irreps_in, irreps_sh, irreps_out, instructions,
                                     shared_weights=False, internal_weights=False)
        irreps_in, irreps_sh, irreps_out = reference.irreps_in1, reference.irreps_in2, reference.irreps_out
        self.weight_numel = reference.weight_numel
        in_offsets, sh_offsets, out_offsets = (_offsets(irreps) for irreps in (irreps_in, irreps_sh, irreps_out))
        # each 'uvu' path has one weight per channel of its input, in instruction order
        weight_offsets = _cumulative([irreps_in[ins.i_in1].mul for ins in reference.instructions])
        if sorted(ins.i_out for ins in reference.instructions) != list(range(len(irreps_out))):
            raise ValueError("EdgeTensorProduct needs exactly one path per output block")
        # Per group: [input block, multiplicity, d1, number of paths, d3]. The inputs,
        # Z and weights are cut into per-group pieces with one split each (the
        # backward of one split is one concatenation; that of many narrow views is a
        # zero-filled full-size gradient per view).
        self.groups: List[List[int]] = []
        self.input_sizes: List[int] = [mul * ir.dim for mul, ir in irreps_in]
        self.z_sizes: List[int] = []
        self.weight_sizes: List[int] = []
        blocks, weight_columns, output_columns = [], [], []
        for i_in, (mul, ir_in) in enumerate(irreps_in):
            for d3 in sorted({irreps_out[ins.i_out].ir.dim for ins in reference.instructions if ins.i_in1 == i_in}):
                paths = [ins for ins in reference.instructions
                         if ins.i_in1 == i_in and irreps_out[ins.i_out].ir.dim == d3]
                if any(ins.connection_mode != "uvu" or irreps_sh[ins.i_in2].mul != 1 for ins in paths):
                    raise ValueError("EdgeTensorProduct handles 'uvu' paths with one copy of each harmonic")
                d1 = ir_in.dim
                block = torch.zeros(irreps_sh.dim, d1, len(paths), d3, dtype=torch.float64)
                for p, ins in enumerate(paths):
                    ir_sh, ir_out = irreps_sh[ins.i_in2].ir, irreps_out[ins.i_out].ir
                    cg = o3.wigner_3j(ir_in.l, ir_sh.l, ir_out.l, dtype=torch.float64)  # [d1, d2, d3]
                    start = sh_offsets[ins.i_in2]
                    block[start:start + ir_sh.dim, :, p, :] = ins.path_weight * cg.permute(1, 0, 2)
                self.groups.append([i_in, mul, d1, len(paths), d3])
                self.z_sizes.append(d1 * len(paths) * d3)
                self.weight_sizes.append(mul * len(paths))
                blocks.append(block.reshape(irreps_sh.dim, -1))
                # This group's weights and outputs in the order of the products below:
                # (channel, path[, component]) for scalar inputs, else (path[, component],
                # channel).
                first = [weight_offsets[reference.instructions.index(ins)] for ins in paths]
                if d1 == 1:
                    weight_columns.extend(first[p] + u for u in range(mul) for p in range(len(paths)))
                    output_columns.extend(out_offsets[ins.i_out] + u * d3 + k
                                          for u in range(mul) for ins in paths for k in range(d3))
                else:
                    weight_columns.extend(first[p] + u for p in range(len(paths)) for u in range(mul))
                    output_columns.extend(out_offsets[ins.i_out] + u * d3 + k
                                          for ins in paths for k in range(d3) for u in range(mul))
        # Derived from the irreps, so not saved in checkpoints (persistent=False).
        self.register_buffer("coefficients", torch.cat(blocks, dim=1).to(torch.get_default_dtype()),
                             persistent=False)
        self.register_buffer("weight_columns", torch.tensor(weight_columns, dtype=torch.int64), persistent=False)
        to_e3nn = torch.empty(len(output_columns), dtype=torch.int64)
        to_e3nn[torch.tensor(output_columns)] = torch.arange(len(output_columns))
        self.register_buffer("to_e3nn_order", to_e3nn, persistent=False)

    def group_messages(self, x: torch.Tensor, sh: torch.Tensor, weights: torch.Tensor) -> List[torch.Tensor]:
        """Per group, [E, multiplicity * paths * d3] (columns in the order recorded in
        to_e3nn_order)."""
        num_edges = x.shape[0]
        inputs = torch.split(x, self.input_sizes, dim=1)
        zs = torch.split(torch.mm(sh, self.coefficients), self.z_sizes, dim=1)
        weights = torch.split(weights, self.weight_sizes, dim=1)
        messages: List[torch.Tensor] = []
        for g, group in enumerate(self.groups):
            block, mul, d1, num_paths, d3 = group
            z = zs[g]
            x_group = inputs[block]
            if d1 == 1:
                w = weights[g].view(num_edges, mul, num_paths, 1)
                product = (x_group.view(num_edges, mul, 1, 1) * w) * z.view(num_edges, 1, num_paths, d3)
            else:
                # [E, (path, component), channel]: channels last, the faster layout of
                # these tiny per-edge matrix products
                product = torch.bmm(z.view(num_edges, d1, num_paths * d3).transpose(1, 2),
                                    x_group.view(num_edges, mul, d1).transpose(1, 2))
                product = product.view(num_edges, num_paths, d3, mul) * weights[g].view(num_edges, num_paths, 1, mul)
            messages.append(product.view(num_edges, mul * num_paths * d3))
        return messages

    def forward(self, x: torch.Tensor, sh: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Weights in e3nn's order."""
        return torch.cat(self.group_messages(x, sh, self.reorder_weights(weights)), dim=1).index_select(
            1, self.to_e3nn_order)

    def reorder_weights(self, weights: torch.Tensor) -> torch.Tensor:
        """e3nn's weight order -> this module's (a permutation of the columns). Where the
        weights come from a linear layer, permuting its rows once (weight_columns) is
        cheaper than this per-edge copy."""
        return weights.index_select(1, self.weight_columns)

    def sum_over_edges(self, x: torch.Tensor, sh: torch.Tensor, weights: torch.Tensor, centre: torch.Tensor,
                       num_nodes: int) -> torch.Tensor:
        """sum over the edges e with centre[e] = n of forward(...)[e], for each node n;
        weights in this module's order (reorder_weights)."""
        sums = [scatter_sum(m, centre, num_nodes) for m in self.group_messages(x, sh, weights)]
        return torch.cat(sums, dim=1).index_select(1, self.to_e3nn_order)


def channelwise_paths(irreps_in, irreps_sh, irreps_out):
    """(irreps_mid, instructions) of NequIP's convolution: every path from irreps_in x
    irreps_sh to an irrep present in irreps_out, channel-wise ('uvu'), each with its
    own output block, the blocks sorted by irrep (as nequip and e3nn order them)."""
    from e3nn import o3

    mid, instructions = [], []
    for i, (mul, ir_in) in enumerate(o3.Irreps(irreps_in)):
        for j, (_, ir_edge) in enumerate(o3.Irreps(irreps_sh)):
            for ir_out in ir_in * ir_edge:
                if ir_out in o3.Irreps(irreps_out):
                    instructions.append((i, j, len(mid), "uvu", True))
                    mid.append((mul, ir_out))
    irreps_mid, permutation, _ = o3.Irreps(mid).sort()
    return irreps_mid, [(i, j, permutation[k], mode, train) for i, j, k, mode, train in instructions]


def _offsets(irreps) -> List[int]:
    """Where each irrep block starts in a feature vector of `irreps`."""
    return _cumulative([mul * ir.dim for mul, ir in irreps])


def _cumulative(sizes: List[int]) -> List[int]:
    """Start of each of consecutive blocks of `sizes`."""
    return [sum(sizes[:k]) for k in range(len(sizes))]
