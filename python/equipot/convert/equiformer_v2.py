"""fairchem-core 1.x EquiformerV2 (`fairchem.core.models.equiformer_v2`: the backbone
`EquiformerV2Backbone` with an `EqV2ScalarHead` energy head, as a HydraModel or given
separately) -> equipot `EquiformerV2`.

What converts: one resolution (lmax_list and mmax_list of length 1), Gaussian distance
basis, per-block atom-edge embeddings (use_atom_edge_embedding, not shared), the gate
or the separable S2 activation, with or without the grid MLP, norm types rms_norm_sh
and layer_norm_sh, an energy head with sum reduction (its division by avg_num_nodes
becomes energy_scale). Refused by name: use_m_share_rad, use_s2_act_attn, the
non-separable S2 activation, share_atom_edge_embedding, norm type layer_norm, energy
linear references, mean reduction. Force heads are dropped: equipot's forces are the
gradient of the energy.

Options the converter sets to reproduce the reference (models/equiformer_v2.py):
equivariance_group "SO(3)" (its complex SO(2) weights), cutoff_envelope False (it has
no cutoff function), num_distance_basis 600 (its Gaussian basis always has 600),
avg_degree from the backbone. Its features are expressed in e3nn's real spherical
harmonics (polar axis y), ours in angular.py's (polar axis z): both are orthonormal
bases of the same spaces, related per degree by a signed permutation Q, which every
degree-wise operation commutes with. In the edge frames the two conventions differ by a
fixed signed permutation T0 (measured from the reference's own Wigner matrices, and
checked to be one): the SO(2) convolution weights and the zonal outputs of the
edge-degree embedding are transformed by it.

Grids: the converted model samples the sphere at the reference's points (grid
"equiangular": e3nn's equiangular grid with Driscoll-Healy weights, nn/s2_grid.py),
so its grid matrices are the reference's SO3_Grid matrices transformed by T0 (edge
frame) and by the change of basis Q (global frame), to round-off.

Exactness (tests/peers/test_equiformer_v2_parity.py, float64): with the gate activation
the converted model equals the reference to round-off. With the S2 activation the only
difference left is the edge frames' roll about the edge (random per call in the
reference, equiformer_v2 issue #17; a fixed function of the edge here): the converted
model equals a reference whose frames are replaced by ours to round-off, and lies
within the spread of the stock reference's own outputs.
"""

from typing import Dict, Optional, Sequence, Union

import torch

from ..dtypes import default_dtype
from ..models.equiformer_v2 import EquiformerV2
from .common import StateMapper, element_list, embedding_rows


def load(path: str):
    """The reference model (HydraModel) of a fairchem-core 1.x checkpoint, on the CPU,
    built by fairchem's own registry from the checkpoint's model config: the dict its
    trainer saves ("config" with the model's "name" and arguments, "state_dict" with or
    without the "module." prefix of a data-parallel wrapper)."""
    try:
        from fairchem.core.common.registry import registry
        # Importing these registers "hydra", the EquiformerV2 backbone and its heads.
        import fairchem.core.models.base  # noqa: F401
        import fairchem.core.models.equiformer_v2.equiformer_v2  # noqa: F401
        import fairchem.core.models.equiformer_v2.heads  # noqa: F401
    except ImportError as error:
        raise ImportError("converting an EquiformerV2 checkpoint needs fairchem-core 1.x (1.10 is the last release "
                          f"with models/equiformer_v2) importable: {error}") from error
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(checkpoint, dict) or "config" not in checkpoint or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not a fairchem checkpoint (a dict with 'config' and 'state_dict')")
    config = dict(checkpoint["config"]["model"])
    name = config.pop("name") if "name" in config else config.pop("model", "hydra")
    model = registry.get_model_class(name)(**config)
    state = {key[len("module."):] if key.startswith("module.") else key: value
             for key, value in checkpoint["state_dict"].items()}
    model.load_state_dict(state)
    return model.eval()


def edge_frame_permutation(l_max: int) -> torch.Tensor:
    """T0 [(l_max+1)^2, (l_max+1)^2] (float64, entries 0 and +-1): the reference's
    edge-frame coefficients are T0 times ours. Measured as D'(M0) Q, D' the reference's
    Wigner matrix of the rotation M0 taking z to y (its polar axis) and Q the change of
    basis from our real harmonics to e3nn's."""
    from e3nn import o3
    from fairchem.core.models.equiformer_v2.so3 import SO3_Rotation

    from ..nn.angular import real_spherical_harmonics

    points = torch.randn(200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    points = points / points.norm(dim=1, keepdim=True)
    theirs = o3.spherical_harmonics(list(range(l_max + 1)), points, normalize=True, normalization="integral")
    change = torch.linalg.lstsq(real_spherical_harmonics(points, l_max), theirs).solution.t()  # theirs = Q ours
    rotation = SO3_Rotation(l_max)
    with default_dtype(torch.float64):
        rotation.set_wigner(torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]]))
        wigner = rotation.wigner[0].to(torch.float64)
    t0 = wigner @ change
    rounded = torch.round(t0)
    if (t0 - rounded).abs().max() > 1e-4 or not torch.allclose(rounded @ rounded.t(), torch.eye(len(t0), dtype=t0.dtype)):
        raise RuntimeError("the reference's edge-frame convention is not a signed permutation of ours")
    return rounded


def _so2_weights(mapper: StateMapper, source: str, destination: str, t0: torch.Tensor, l_max: int, m_max: int,
                 in_channels: int, out_channels: int, extra: int, radial: bool) -> None:
    """Copy one SO2_Convolution, transforming its weights by T0 (module docstring)."""
    signs = torch.tensor([float(t0[l * l + l, l * l + l]) for l in range(l_max + 1)], dtype=torch.float64)
    weight = mapper.source[f"{source}.fc_m0.weight"].double().clone()
    bias = mapper.source[f"{source}.fc_m0.bias"].double().clone()
    weight = weight * signs.repeat_interleave(in_channels).unsqueeze(0)
    out_signs = torch.cat([torch.ones(extra, dtype=torch.float64), signs.repeat_interleave(out_channels)])
    mapper.take(f"{source}.fc_m0.weight", f"{destination}.fc_m0.weight", weight * out_signs.unsqueeze(1))
    mapper.take(f"{source}.fc_m0.bias", f"{destination}.fc_m0.bias", bias * out_signs)
    for m in range(1, m_max + 1):
        degrees = list(range(m, l_max + 1))
        count = len(degrees)
        key = f"{source}.so2_m_conv.{m - 1}.fc.weight"
        w = mapper.source[key].double()
        real = w[: count * out_channels].view(count, out_channels, count, in_channels)
        imaginary = w[count * out_channels:].view(count, out_channels, count, in_channels)
        full = torch.stack([torch.stack([real, -imaginary]), torch.stack([imaginary, real])])  # [a, b, lo, co, li, ci]
        # 2x2 blocks B_l: rows the reference's (l, +m), (l, -m), columns ours.
        blocks = torch.stack([t0[[l * l + l + m, l * l + l - m]][:, [l * l + l + m, l * l + l - m]] for l in degrees])
        ours = torch.einsum("xpa,pqxcyd,yqb->abxcyd", blocks, full, blocks)
        if not (torch.allclose(ours[1, 1], ours[0, 0], atol=1e-12) and torch.allclose(ours[0, 1], -ours[1, 0], atol=1e-12)):
            raise RuntimeError(f"{key}: the frame change does not keep the SO(2) convolution's form")
        converted = torch.cat([ours[0, 0].reshape(count * out_channels, count * in_channels),
                               ours[1, 0].reshape(count * out_channels, count * in_channels)])
        mapper.take(key, f"{destination}.so2_m_conv.{m - 1}.fc.weight", converted)
    if radial:
        _copy_prefix(mapper, f"{source}.rad_func.", f"{destination}.rad_func.")


def _copy_prefix(mapper: StateMapper, source: str, destination: str, rename: Optional[Dict[str, str]] = None) -> None:
    for key in list(mapper.source):
        if key.startswith(source) and key not in mapper.used:
            rest = key[len(source):]
            for old, new in (rename or {}).items():
                if rest.startswith(old):
                    rest = new + rest[len(old):]
            mapper.take(key, destination + rest)


def convert(model, elements: Optional[Union[str, Sequence[str]]] = None, head=None) -> EquiformerV2:
    """The equipot EquiformerV2 equal to `model`: a fairchem HydraModel with an energy
    head, or an `EquiformerV2Backbone` with `head` (an `EqV2ScalarHead`). `elements`: the
    chemical symbols of the equipot model, in the order of its species indices (their
    embedding rows are picked by atomic number)."""
    backbone = getattr(model, "backbone", model)
    if head is None:
        heads = getattr(model, "output_heads", {})
        if "energy" not in heads:
            raise ValueError("give the energy head (head=...): the model has no output head named 'energy'")
        head = heads["energy"]
    elements = element_list(elements, "fairchem EquiformerV2", ("Cu", "Ni"))
    b = backbone
    for flag in ("use_m_share_rad", "use_s2_act_attn", "share_atom_edge_embedding"):
        if getattr(b, flag):
            raise ValueError(f"EquiformerV2 with {flag}=True is not supported")
    if not b.use_atom_edge_embedding:
        raise ValueError("EquiformerV2 without atom-edge embeddings is not supported")
    if len(b.lmax_list) != 1:
        raise ValueError(f"only one resolution is supported, got lmax_list {b.lmax_list}")
    if not (b.use_gate_act or b.use_sep_s2_act):
        raise ValueError("the non-separable S2 activation (use_gate_act=False, use_sep_s2_act=False) is not supported")
    if b.norm_type not in ("rms_norm_sh", "layer_norm_sh"):
        raise ValueError(f"norm_type {b.norm_type} is not supported")
    if getattr(b, "use_energy_lin_ref", False):
        raise ValueError("energy linear references (use_energy_lin_ref) are not supported")
    if getattr(head, "reduce", "sum") != "sum":
        raise ValueError(f"only the energy head's sum reduction is supported, got {head.reduce}")
    l_max, m_max = b.lmax_list[0], b.mmax_list[0]
    resolution = None if b.grid_resolution is None else [b.grid_resolution, b.grid_resolution]
    ours = EquiformerV2(
        elements, cutoff=float(b.cutoff), num_blocks=b.num_layers, l_max=l_max, m_max=m_max,
        sphere_channels=b.sphere_channels, attn_hidden_channels=b.attn_hidden_channels, num_heads=b.num_heads,
        attn_alpha_channels=b.attn_alpha_channels, attn_value_channels=b.attn_value_channels,
        ffn_hidden_channels=b.ffn_hidden_channels, edge_channels=b.edge_channels,
        num_distance_basis=int(b.distance_expansion.num_output),
        activation="gate" if b.use_gate_act else "s2", grid_mlp=bool(b.use_grid_mlp), grid_resolution=resolution,
        grid="equiangular", norm_type=b.norm_type, equivariance_group="SO(3)", cutoff_envelope=False,
        avg_degree=float(b.avg_degree))
    # The reference's dtype, not torch's default: a float64 model must not pass through float32.
    ours = ours.to(next(b.parameters()).dtype)
    source = {f"backbone.{k}": v for k, v in b.state_dict().items()}
    source.update({f"head.{k}": v for k, v in head.state_dict().items()})
    mapper = StateMapper(ours, source)
    mapper.ignore([k for k in source if any(part in k for part in (
        "SO3_rotation", "mappingReduced", "SO3_grid", "expand_index", "balance_degree_weight"))])
    rows = embedding_rows(elements, b.max_num_elements, "fairchem EquiformerV2")

    def embedding(src, dst):
        mapper.take(src, dst, mapper.source[src][rows])

    embedding("backbone.sphere_embedding.weight", "sphere_embedding.weight")
    offsets = mapper.source["backbone.distance_expansion.offset"]
    mapper.take("backbone.distance_expansion.offset", "distance_expansion.centers", offsets)
    ours.distance_expansion.width = (-0.5 / float(b.distance_expansion.coeff)) ** 0.5
    t0 = edge_frame_permutation(l_max)
    signs = torch.tensor([float(t0[l * l + l, l * l + l]) for l in range(l_max + 1)], dtype=torch.float64)

    prefix = "backbone.edge_degree_embedding."
    embedding(prefix + "source_embedding.weight", "edge_degree_embedding.source_embedding.weight")
    embedding(prefix + "target_embedding.weight", "edge_degree_embedding.target_embedding.weight")
    last = max(int(k.split(".")[4]) for k in source if k.startswith(prefix + "rad_func.net."))
    zonal = signs.repeat_interleave(b.sphere_channels)
    for key in list(source):
        if key.startswith(prefix + "rad_func."):
            value = source[key].double()
            if key.startswith(f"{prefix}rad_func.net.{last}."):
                value = value * (zonal.unsqueeze(1) if value.dim() == 2 else zonal)
            mapper.take(key, "edge_degree_embedding." + key[len(prefix):], value)

    gates = l_max * b.attn_hidden_channels if b.use_gate_act else b.attn_hidden_channels
    for k in range(b.num_layers):
        src, dst = f"backbone.blocks.{k}.", f"blocks.{k}."
        _copy_prefix(mapper, src + "norm_1.", dst + "norm_1.")
        _copy_prefix(mapper, src + "norm_2.", dst + "norm_2.")
        embedding(src + "ga.source_embedding.weight", dst + "ga.source_embedding.weight")
        embedding(src + "ga.target_embedding.weight", dst + "ga.target_embedding.weight")
        _so2_weights(mapper, src + "ga.so2_conv_1", dst + "ga.so2_conv_1", t0, l_max, m_max, 2 * b.sphere_channels,
                     b.attn_hidden_channels, b.num_heads * b.attn_alpha_channels + gates, True)
        _so2_weights(mapper, src + "ga.so2_conv_2", dst + "ga.so2_conv_2", t0, l_max, m_max, b.attn_hidden_channels,
                     b.num_heads * b.attn_value_channels, 0, False)
        _copy_prefix(mapper, src + "ga.alpha_norm.", dst + "ga.alpha_norm.")
        mapper.take(src + "ga.alpha_dot", dst + "ga.alpha_dot")
        _copy_prefix(mapper, src + "ga.proj.", dst + "ga.proj.")
        _copy_prefix(mapper, src + "ffn.", dst + "ffn.", {"grid_mlp.": "grid_mlp_net."})
    _copy_prefix(mapper, "backbone.norm.", "norm.")
    _copy_prefix(mapper, "head.energy_block.", "energy_block.", {"grid_mlp.": "grid_mlp_net."})
    ours.load_state_dict(mapper.state("fairchem EquiformerV2"))
    with torch.no_grad():
        ours.energy_scale.fill_(1.0 / float(head.avg_num_nodes))
    return ours.eval()
