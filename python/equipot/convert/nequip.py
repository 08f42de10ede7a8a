"""NequIP models of the nequip package (0.19, `NequIPGNNModel` and its presets) as
equipot NequIP models with the same weights.

    model = nequip.model.saved_models.load_utils.load_saved_model("best.ckpt")
    converted = equipot.convert.convert("nequip", model)

or, for a training checkpoint (`.ckpt`) or a package (`.nequip.zip`),

    equipot convert --from nequip best.ckpt -o checkpoint.pt

Every hyperparameter is read from the model itself. nequip's type names become the
equipot elements when they are chemical symbols; otherwise give `elements` (one
symbol per type name, in the model's type order). Refused, with the reason: per-edge-
type cutoffs, pair potentials (ZBL), the 'norm' non-linearity, categorical graph-field
embeddings and a self-interaction in the first layer (`learnable_shift`).
"""

import math
import re
from typing import Optional, Sequence, Union

import torch

from ..dtypes import default_dtype
from ..models import NequIP, build_model
from .common import StateMapper, element_list

# Buffers that e3nn and nequip derive from the architecture (Clebsch-Gordan tables,
# output masks, empty placeholders): rebuilt by equipot's own modules, not copied.
DERIVED = re.compile(r"(output_mask|_w3j_\d+_\d+_\d+|\._empty|_rmax_recip|\.alpha|tp_scatter\.tp\.weight)$")


def load(path: str):
    """The nequip model saved in `path` (training checkpoint or package), eager."""
    from nequip.model.saved_models.load_utils import load_saved_model

    set_up_nequip()
    return load_saved_model(str(path))


def set_up_nequip() -> None:
    """nequip's global set-up, without which it builds no model, minus the float64 it
    also makes torch's default dtype for the whole process."""
    from nequip.utils.global_state import set_global_state

    with default_dtype(torch.get_default_dtype()):  # restores the caller's on exit
        set_global_state()


def _energy_network(model):
    """nequip's SequentialGraphNetwork of energy modules, inside the GraphModel and
    ForceStressOutput wrappers."""
    network = model
    for attribute in ("model", "func"):
        network = getattr(network, attribute, network)
    if not hasattr(network, "type_embed") or not hasattr(network, "layer0_convnet"):
        raise ValueError(f"not a nequip NequIP model (no type_embed/layer0_convnet in {type(model).__name__})")
    return network


def _mlp_weights(mlp_function):
    """nequip ScalarMLPFunction -> [weight.T * alpha] per layer (equipot's nn.Linear
    layout), with its hidden depth and width."""
    layers = [m for m in mlp_function.mlp if hasattr(m, "weight")] if hasattr(mlp_function.mlp, "__iter__") else []
    if not layers:
        raise ValueError("nequip deep linear MLPs (no non-linearity) are not supported")
    if any(getattr(m, "bias", None) is not None for m in layers):
        raise ValueError("nequip MLPs with biases are not supported")
    weights = [(m.weight * m.alpha).detach().T.contiguous() for m in layers]
    widths = [w.shape[0] for w in weights[:-1]]
    return weights, len(widths), (widths[0] if widths else None)


def convert(model, elements: Optional[Union[str, Sequence[str]]] = None) -> NequIP:
    from e3nn import o3

    network = _energy_network(model)
    names = dict(network.named_children())
    for unsupported, why in (("pair_potential", "pair potentials (ZBL)"),):
        if unsupported in names:
            raise ValueError(f"nequip models with {why} are not supported")
    if network.edge_norm._per_edge_type:
        raise ValueError("nequip models with per-edge-type cutoffs are not supported")
    if network.type_embed.do_categorical_graph_field_embed:
        raise ValueError("nequip models with categorical graph-field embeddings are not supported")
    type_names = list(model.type_names) if hasattr(model, "type_names") else None
    elements = element_list(elements if elements is not None else type_names, "nequip")
    if type_names is not None and len(elements) != len(type_names):
        raise ValueError(f"the model has {len(type_names)} types {type_names}; got {len(elements)} elements")

    layers = [getattr(network, f"layer{k}_convnet") for k in range(len(names)) if f"layer{k}_convnet" in names]
    for index, layer in enumerate(layers):
        if type(layer.equivariant_nonlin).__name__ != "Gate":
            raise ValueError("nequip models with the 'norm' non-linearity are not supported")
        if index == 0 and layer.conv.sc is not None:
            raise ValueError("nequip models with a self-interaction in the first layer (learnable_shift) "
                             "are not supported")
    irreps_sh = o3.Irreps(network.spharm.irreps_edge_sh)
    l_max = irreps_sh.lmax
    hidden = o3.Irreps(layers[0].feature_irreps_hidden) if len(layers) > 1 else o3.Irreps("0x0e")
    parity = len(layers) > 1 and any(ir.p != (-1) ** ir.l for _, ir in hidden)
    multiplicities = [0] * (l_max + 1)
    for mul, ir in hidden:
        multiplicities[ir.l] = mul
    multiplicities[0] = o3.Irreps(layers[-1].feature_irreps_hidden).dim
    radial = layers[0].conv.edge_mlp
    _, radial_depth, radial_width = _mlp_weights(radial)
    _, readout_depth, readout_width = _mlp_weights(network.per_atom_energy_readout.mlp_module)
    bessel = network.bessel_encode
    cutoff = float(network.edge_norm.r_max)
    hyperparameters = dict(
        cutoff=cutoff, num_layers=len(layers), l_max=l_max, parity=parity,
        num_features=multiplicities[0], num_features_per_l=multiplicities,
        type_embed_num_features=network.type_embed.embed_module.embedding_dim,
        radial_mlp_depth=radial_depth, radial_mlp_width=radial_width or 1,
        num_bessels=bessel.num_bessels, bessel_trainable=bool(bessel.trainable),
        polynomial_cutoff_p=int(bessel.cutoff.p), avg_num_neighbors=1.0,
        readout_mlp_depth=readout_depth, readout_mlp_width=readout_width,
        self_interaction=len(layers) > 1 and layers[1].conv.sc is not None,
        resnet=any(layer.resnet for layer in layers),
    )
    converted = build_model("nequip", elements, dtype=next(model.parameters()).dtype, **hyperparameters)
    converted.normalization_from_data = False
    mapper = StateMapper(converted, dict(network.state_dict()))
    mapper.ignore([key for key in mapper.source if DERIVED.search(key)])
    mapper.take("type_embed.embed_module.weight", "embedding.weight")
    frequencies = bessel.bessel_weights.detach().reshape(-1) * (math.pi / cutoff)
    mapper.take("bessel_encode.bessel_weights", "basis.frequencies", frequencies)
    for k, layer in enumerate(layers):
        source, target = f"layer{k}_convnet.conv.", f"layers.{k}.convolution."
        # (the tensor product's weights come from the radial MLP, per edge)
        for name in ("linear_1.weight", "linear_1.bias", "linear_2.weight", "linear_2.bias", "sc.weight",
                     "equivariant_nonlin.mul.weight"):
            key = (f"layer{k}_convnet." if name.startswith("equivariant") else source) + name
            if key not in mapper.source:
                continue
            mine = {"linear_1": "linear_in", "linear_2": "linear_out", "sc": "self_interaction"}.get(name.split(".")[0])
            destination = (f"layers.{k}.gate.mul.weight" if mine is None
                           else target + mine + "." + name.split(".")[-1])
            mapper.take(key, destination)
        weights, _, _ = _mlp_weights(layer.conv.edge_mlp)
        for n, weight in enumerate(weights):
            destination = f"{target}radial_hidden.{2 * n}.weight" if n < len(weights) - 1 else f"{target}radial_out.weight"
            mapper.take(f"{source}edge_mlp.mlp.{2 * n}.weight", destination, weight)
    weights, _, _ = _mlp_weights(network.per_atom_energy_readout.mlp_module)
    for n, weight in enumerate(weights):
        mapper.take(f"per_atom_energy_readout.mlp_module.mlp.{2 * n}.weight", f"readout.{2 * n}.weight", weight)
    norms = layers[0].conv.avg_num_neighbors_norm.norm_const.detach().reshape(-1)
    mapper.target["neighbor_norms"] = norms.expand(len(elements)).to(mapper.target["neighbor_norms"].dtype).clone()
    shift_module = network.per_type_energy_scale_shift
    for buffer, destination in (("scales", "type_scales"), ("shifts", "reference_energies")):
        values = getattr(shift_module, buffer).detach().reshape(-1)
        key = f"per_type_energy_scale_shift.{buffer}"
        if values.numel() == 0:  # not set: scale 1, shift 0
            mapper.ignore([key])
            continue
        mapper.take(key, destination, values.expand(len(elements)).clone())
    converted.load_state_dict(mapper.state("nequip"))
    return converted.eval()
