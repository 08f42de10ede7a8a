"""torch-geometric's SchNet and DimeNet++ -> equipot `SchNet` and `DimeNetPlusPlus`,
with the same weights and the same energies (torch_geometric.nn.models.SchNet and
DimeNetPlusPlus, the ones users load; the weights of klicperajo/dimenet's
TensorFlow checkpoints reach DimeNet++ through its `from_qm9_pretrained`).

Accepted: the model object, or its state dict (a file from
`torch.save(model.state_dict())`, also nested under 'state_dict' /
'model_state_dict' / 'model' and with a common key prefix, as Lightning writes).
All sizes are read from the tensor shapes. Embedding rows (PyG embeds atomic
numbers 0..94 / 0..99) are picked by the atomic numbers of `elements`, which PyG
models do not record and must be given. Options that do not apply to the model
found are refused by name.

SchNet (`convert(model, elements, cutoff=None, mean=None, std=None, scale=None)`):
- The maths is equipot's SchNet with its defaults (ssp everywhere): PyG's
  GaussianSmearing (centres linspace(0, cutoff, n), exp(-0.5 (d - mu)^2 / delta^2)
  with delta the spacing) is GaussianBasis; CFConv's filter network `nn` times
  0.5 (cos(pi d / cutoff) + 1) is the filter network times CosineCutoff; its lin1
  (no bias) is `atoms_to_filters`; its lin2, the interaction's act and lin are
  `filters_to_atoms` (Linear, ssp, Linear); residual updates; readout lin1 -> ssp
  -> lin2 onto F/2 then 1 value per atom.
- PyG's shifted softplus subtracts ln 2 rounded to float32 (it is
  torch.log(torch.tensor(2.0)).item() under the default dtype), equipot's the exact
  ln 2: the difference (1.9e-9) times the weights of the Linear after each ssp is
  folded into that Linear's bias, so the two agree to float64 round-off.
- Output: per atom E_i = scale * (std * h_i + mean + atomref[z_i]) (mean and std
  only when both are set, as PyG does; `scale` is what `from_qm9_pretrained` sets),
  summed by readout 'add': energy_scale = scale * std and reference_energies =
  scale * (mean + atomref[z]). A module records mean, std, scale and atomref; a
  state dict records atomref only, so give mean/std/scale if the model had them.
  The cutoff is read from the Gaussian centres when not given.
- Refused: readout 'mean' (a per-structure mean has no per-atom form), dipole=True,
  an `interaction_graph` other than the default radius graph with the model's
  cutoff (set model.interaction_graph = RadiusInteractionGraph(model.cutoff) if
  yours also takes every neighbour within the cutoff), CFConv cutoffs other than
  the model's, activations other than PyG's ShiftedSoftplus, Gaussian centres not
  evenly spaced from 0 to the cutoff.

DimeNet++ (`convert(model, elements, cutoff, envelope_exponent=5,
activation='swish')`): PyG's DimeNet++ cannot be pickled whole (its spherical
basis holds sympy-lambdified functions), so a state dict is what users have; what
it does not record must be given: `cutoff` (required), `envelope_exponent` and
`activation` (PyG's defaults). For a model object they are read from it.
- PyG's output blocks produce one value per atom (messages summed onto their
  centre atom i by scatter), which its forward adds over blocks and then over the
  atoms of each graph (`P.sum(dim=0)`). Those per-atom values are equipot's
  per-atom energies (energy_scale 1, reference energies 0); only out_channels = 1
  (an energy) is accepted.
- The model is built with reference_quirks=True (see equipot.models.dimenet), its
  radial frequencies are PyG's divided by the cutoff (equipot's are in 1/A), and
  the spherical Bessel roots and normalisations are the ones PyG puts into its
  lambdified functions (its `dimenet_utils`: roots rounded to float32), so that the
  two agree to ~1e-15 in float64 and not only to ~1e-7.

Differences that remain, by design: PyG builds its graph with radius_graph capped
at max_num_neighbors (32) per atom, equipot uses every neighbour within the cutoff;
PyG has no periodic boundary conditions. DimeNet++ only: PyG drops every triplet
with k = i, equipot only the reverse edge, which differs only in periodic cells
smaller than twice the cutoff.
"""

import math
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from ..models import DimeNetPlusPlus, SchNet
from ..nn import ACTIVATIONS
from .common import StateMapper, embedding_rows, element_list

_PYG_DEFAULTS = {"envelope_exponent": 5, "activation": "swish"}


def load(path: str):
    """The DimeNet++ saved at `path`: a whole pickled model (torch.load with
    weights_only=False, only for files you trust) or a state dict."""
    obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, nn.Module) or isinstance(obj, dict):
        return obj
    raise ValueError(f"'{path}' holds neither a torch-geometric model nor a state dict (found {type(obj).__name__})")


def convert(model, elements: Optional[Union[str, Sequence[str]]] = None, cutoff: Optional[float] = None,
            envelope_exponent: Optional[int] = None, activation: Optional[str] = None,
            mean: Optional[float] = None, std: Optional[float] = None,
            scale: Optional[float] = None) -> Union[SchNet, DimeNetPlusPlus]:
    """The equipot model equivalent to torch-geometric's `model` (a SchNet or a
    DimeNetPlusPlus, or its state dict) restricted to `elements`. `cutoff`: both
    (required for a DimeNet++ state dict); `envelope_exponent`, `activation`:
    DimeNet++ only; `mean`, `std`, `scale`: SchNet only (see the module docstring)."""
    kind = _kind(model)
    given = {"envelope_exponent": envelope_exponent, "activation": activation, "mean": mean, "std": std,
             "scale": scale}
    allowed = {"schnet": ("mean", "std", "scale"), "dimenet++": ("envelope_exponent", "activation")}[kind]
    wrong = [key for key, value in given.items() if value is not None and key not in allowed]
    if wrong:
        name = {"schnet": "SchNet", "dimenet++": "DimeNet++"}[kind]
        raise ValueError(f"a torch-geometric {name} takes no {', '.join(wrong)} "
                         f"(its options: elements, cutoff, {', '.join(allowed)})")
    elements = element_list(elements, "torch-geometric", example=("H", "O"))
    if kind == "schnet":
        return _convert_schnet(model, elements, cutoff, mean, std, scale)
    return _convert_dimenet(model, elements, cutoff, envelope_exponent, activation)


def _kind(model) -> str:
    """'schnet' or 'dimenet++', from the object's class or the state dict's keys."""
    if isinstance(model, nn.Module):
        from torch_geometric.nn.models import SchNet as PygSchNet

        return "schnet" if isinstance(model, PygSchNet) else "dimenet++"
    if isinstance(model, dict):
        keys = [k for k in _inner_dict(model) if isinstance(k, str)]
        if any(k.endswith("distance_expansion.offset") for k in keys):
            return "schnet"
        if any(k.endswith("rbf.freq") for k in keys):
            return "dimenet++"
        raise ValueError("not a torch-geometric SchNet or DimeNet++ state dict "
                         "(no 'distance_expansion.offset' or 'rbf.freq' entry)")
    raise ValueError(f"expected a torch-geometric SchNet or DimeNetPlusPlus or its state dict, "
                     f"got {type(model).__name__}")


def _convert_dimenet(model, elements: List[str], cutoff, envelope_exponent, activation) -> DimeNetPlusPlus:
    if isinstance(model, nn.Module):
        state = model.state_dict()
        settings = _settings_of_module(model, cutoff, envelope_exponent, activation)
    else:
        state = _unwrap_state_dict(model, "rbf.freq", "DimeNet++")
        if cutoff is None:
            raise ValueError("a torch-geometric state dict does not record the cutoff: give it (cutoff=5.0)")
        settings = {
            "cutoff": float(cutoff),
            "envelope_exponent": int(_PYG_DEFAULTS["envelope_exponent"] if envelope_exponent is None
                                     else envelope_exponent),
            "activation": _activation_from_name(_PYG_DEFAULTS["activation"] if activation is None else activation),
        }

    sizes = _sizes(state)
    dtype = state["rbf.freq"].dtype
    with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten: leave the caller's RNG alone
        result = DimeNetPlusPlus(elements, reference_quirks=True, **settings, **sizes).to(dtype)
    result.load_state_dict(_mapped_state(state, result, elements, settings["cutoff"], sizes))
    return result.eval()


def _settings_of_module(model, cutoff, envelope_exponent, activation) -> Dict:
    from torch_geometric.nn.models import DimeNet, DimeNetPlusPlus as PygDimeNetPlusPlus

    if not isinstance(model, PygDimeNetPlusPlus):
        if isinstance(model, DimeNet):
            raise ValueError("torch-geometric's DimeNet (not ++) is not supported: equipot has DimeNet++ only")
        raise ValueError(f"expected torch-geometric's SchNet or DimeNetPlusPlus, got {type(model).__name__}")
    found = {
        "cutoff": float(model.cutoff),
        "envelope_exponent": int(model.rbf.envelope.p) - 1,
        "activation": _activation_of(model.emb.act),
    }
    given = {"cutoff": cutoff, "envelope_exponent": envelope_exponent,
             "activation": None if activation is None else _activation_from_name(activation)}
    for key, value in given.items():
        if value is not None and value != found[key]:
            raise ValueError(f"{key}={value!r} given, but the model has {key}={found[key]!r}")
    return found


def _activation_of(act) -> str:
    """The equipot name of a torch-geometric activation (a function or a module)."""
    if isinstance(act, nn.SiLU) or getattr(act, "__name__", None) in ("swish", "silu"):
        return "silu"
    if isinstance(act, nn.Tanh) or act is torch.tanh:
        return "tanh"
    if isinstance(act, nn.GELU) and act.approximate == "none":
        return "gelu"
    if isinstance(act, nn.Softplus) and act.beta == 1 and act.threshold == 20:
        return "softplus"
    raise ValueError(f"the activation {act!r} has no equipot equivalent (silu/swish, tanh, gelu, softplus)")


def _activation_from_name(name: str) -> str:
    name = str(name).lower()
    if name not in ACTIVATIONS or name in ("ssp", "shifted_softplus"):
        raise ValueError(f"activation '{name}' has no torch-geometric DimeNet++ equivalent")
    return "silu" if name == "swish" else name


def _inner_dict(obj: Dict) -> Dict:
    for key in ("state_dict", "model_state_dict", "model"):
        if key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def _unwrap_state_dict(obj: Dict, marker: str, name: str) -> Dict[str, torch.Tensor]:
    obj = _inner_dict(obj)
    keys = [k for k in obj if isinstance(k, str) and k.endswith(marker)]
    if len(keys) != 1:
        raise ValueError(f"not a torch-geometric {name} state dict (no single '{marker}' entry)")
    prefix = keys[0][: -len(marker)]
    return {k[len(prefix):]: v for k, v in obj.items() if isinstance(k, str) and k.startswith(prefix)}


def _count(state: Dict, pattern: str) -> int:
    count = 0
    while pattern.format(count) in state:
        count += 1
    return count


def _sizes(state: Dict) -> Dict:
    if "interaction_blocks.0.W" in state:
        raise ValueError("torch-geometric's DimeNet (not ++) is not supported: equipot has DimeNet++ only")
    if "output_blocks.0.lin_up.weight" not in state:
        raise ValueError("not a torch-geometric DimeNet++ (no output_blocks.0.lin_up)")
    out_channels = state["output_blocks.0.lin.weight"].shape[0]
    if out_channels != 1:
        raise ValueError(f"out_channels = {out_channels}: only a DimeNet++ predicting one energy "
                         "(out_channels = 1) converts to a potential")
    num_radial = state["rbf.freq"].numel()
    num_blocks = _count(state, "interaction_blocks.{}.lin.weight")
    if _count(state, "output_blocks.{}.lin.weight") != num_blocks + 1:
        raise ValueError("a DimeNet++ has one output block more than interaction blocks")
    sizes = {
        "hidden_channels": state["emb.emb.weight"].shape[1],
        "out_emb_channels": state["output_blocks.0.lin_up.weight"].shape[0],
        "num_blocks": num_blocks,
        "num_radial": num_radial,
        "num_output_layers": _count(state, "output_blocks.0.lins.{}.weight"),
    }
    if num_blocks > 0:
        sizes.update({
            "int_emb_size": state["interaction_blocks.0.lin_down.weight"].shape[0],
            "basis_emb_size": state["interaction_blocks.0.lin_rbf1.weight"].shape[0],
            "num_spherical": state["interaction_blocks.0.lin_sbf1.weight"].shape[1] // num_radial,
            "num_before_skip": _count(state, "interaction_blocks.0.layers_before_skip.{}.lin1.weight"),
            "num_after_skip": _count(state, "interaction_blocks.0.layers_after_skip.{}.lin1.weight"),
        })
    return {k: int(v) for k, v in sizes.items()}


def _pyg_spherical_constants(num_spherical: int, num_radial: int):
    """The roots z_ln and normalisations 1/sqrt(0.5 j_{l+1}(z_ln)^2) exactly as
    torch-geometric computes them before lambdifying its spherical basis."""
    import numpy as np
    from torch_geometric.nn.models.dimenet_utils import Jn, Jn_zeros

    zeros = Jn_zeros(num_spherical, num_radial)
    normalizers = np.array([[1 / (0.5 * Jn(zeros[order, i], order + 1) ** 2) ** 0.5 for i in range(num_radial)]
                            for order in range(num_spherical)], dtype=np.float64)
    return torch.tensor(np.asarray(zeros, dtype=np.float64)), torch.tensor(normalizers)


def _mapped_state(state: Dict, result: DimeNetPlusPlus, elements: List[str], cutoff: float, sizes: Dict) -> Dict:
    numbers = embedding_rows(elements, state["emb.emb.weight"].shape[0], "torch-geometric")
    mapper = StateMapper(result, state)
    take = mapper.take
    take("rbf.freq", "radial.frequencies", state["rbf.freq"] / cutoff)
    take("emb.emb.weight", "embedding.embedding.weight", state["emb.emb.weight"][numbers])
    for name in ("lin_rbf.weight", "lin_rbf.bias", "lin.weight", "lin.bias"):
        take(f"emb.{name}", f"embedding.{name}")
    for b in range(sizes["num_blocks"]):
        source, destination = f"interaction_blocks.{b}.", f"interactions.{b}."
        for name in ("lin_rbf1.weight", "lin_rbf2.weight", "lin_sbf1.weight", "lin_sbf2.weight", "lin_kj.weight",
                     "lin_kj.bias", "lin_ji.weight", "lin_ji.bias", "lin_down.weight", "lin_up.weight", "lin.weight",
                     "lin.bias"):
            take(source + name, destination + name)
        for group in ("layers_before_skip", "layers_after_skip"):
            for r in range(_count(state, source + group + ".{}.lin1.weight")):
                for layer, index in (("lin1", 0), ("lin2", 2)):
                    for kind in ("weight", "bias"):
                        take(f"{source}{group}.{r}.{layer}.{kind}", f"{destination}{group}.{r}.mlp.{index}.{kind}")
    for b in range(sizes["num_blocks"] + 1):
        source, destination = f"output_blocks.{b}.", f"outputs.{b}."
        for name in ("lin_rbf.weight", "lin_up.weight", "lin.weight"):
            take(source + name, destination + name)
        for layer in range(sizes["num_output_layers"]):
            for kind in ("weight", "bias"):
                take(f"{source}lins.{layer}.{kind}", f"{destination}layers.{2 * layer}.{kind}")
    target = mapper.state("torch-geometric")
    roots, normalizers = _pyg_spherical_constants(result.num_spherical, result.num_radial)
    target["spherical_radial.roots"] = roots.to(target["spherical_radial.roots"].dtype)
    target["spherical_radial.normalizers"] = normalizers.to(target["spherical_radial.normalizers"].dtype)
    return target


# ---------------------------------------------------------------------------------
# SchNet

# PyG's ShiftedSoftplus subtracts torch.log(torch.tensor(2.0)).item(): ln 2 rounded
# to the default dtype when the model was built, float32 unless changed. A state
# dict does not say; this is the usual value. Equipot's ssp subtracts math.log(2).
_PYG_SSP_SHIFT_FLOAT32 = float(torch.log(torch.tensor(2.0, dtype=torch.float32)))
_EQUIPOT_SSP_SHIFT = math.log(2.0)


def _convert_schnet(model, elements: List[str], cutoff, mean, std, scale) -> SchNet:
    if isinstance(model, nn.Module):
        state = model.state_dict()
        settings = _schnet_settings_of_module(model, cutoff, mean, std, scale)
    else:
        state = _unwrap_state_dict(model, "distance_expansion.offset", "SchNet")
        if "atomic_mass" in state:
            raise ValueError("a torch-geometric SchNet with dipole=True predicts a dipole moment, not an energy")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither (torch-geometric applies them only together)")
        settings = {"cutoff": _cutoff_of_offsets(state["distance_expansion.offset"], cutoff),
                    "mean": mean, "std": std, "scale": scale, "shifts": None}
    offsets = state["distance_expansion.offset"]
    dtype = offsets.dtype
    num_interactions = _count(state, "interactions.{}.lin.weight")
    if "embedding.weight" not in state or "lin2.weight" not in state or num_interactions == 0:
        raise ValueError("not a torch-geometric SchNet state dict (needs embedding, interactions.0, lin1, lin2)")
    if state["lin2.weight"].shape[0] != 1:
        raise ValueError(f"lin2 has {state['lin2.weight'].shape[0]} outputs: only one value per atom (an energy) "
                         "converts to a potential")
    sizes = {
        "num_features": int(state["embedding.weight"].shape[1]),
        "num_filters": int(state["interactions.0.conv.lin1.weight"].shape[0]),
        "num_interactions": num_interactions,
        "num_basis": int(offsets.numel()),
    }
    with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten: leave the caller's RNG alone
        result = SchNet(elements, cutoff=settings["cutoff"], activation="ssp", readout_activation="ssp",
                        **sizes).to(dtype)
    _check_gaussians(offsets, result, settings.get("coeff"))
    result.load_state_dict(_mapped_schnet_state(state, result, elements, settings))
    return result.eval()


def _schnet_settings_of_module(model, cutoff, mean, std, scale) -> Dict:
    from torch_geometric.nn.aggr import SumAggregation
    from torch_geometric.nn.models.schnet import RadiusInteractionGraph, ShiftedSoftplus

    if model.dipole:
        raise ValueError("a torch-geometric SchNet with dipole=True predicts a dipole moment, not an energy")
    if not isinstance(model.readout, SumAggregation):
        raise ValueError(f"readout {type(model.readout).__name__}: only readout='add' (a sum of per-atom energies) "
                         "converts; a per-structure mean has no per-atom form")
    found = {"cutoff": float(model.cutoff)}
    graph = model.interaction_graph
    if not isinstance(graph, RadiusInteractionGraph) or float(graph.cutoff) != found["cutoff"]:
        raise ValueError(
            f"the interaction_graph {graph!r} is not the default radius graph with the model's cutoff "
            f"{found['cutoff']:g}: equipot takes every neighbour within the cutoff. If yours does too, set "
            "model.interaction_graph = torch_geometric.nn.models.schnet.RadiusInteractionGraph(model.cutoff) first")
    shifts = {"act": model.act}
    for b, interaction in enumerate(model.interactions):
        conv = interaction.conv
        if float(conv.cutoff) != found["cutoff"]:
            raise ValueError(f"interactions.{b}.conv.cutoff = {conv.cutoff} differs from the model's "
                             f"cutoff {found['cutoff']:g}")
        if not (isinstance(conv.nn, nn.Sequential) and len(conv.nn) == 3 and isinstance(conv.nn[0], nn.Linear)
                and isinstance(conv.nn[2], nn.Linear)):
            raise ValueError(f"interactions.{b}.conv.nn is not PyG's Linear, ShiftedSoftplus, Linear")
        shifts[f"interactions.{b}.conv.nn.1"] = conv.nn[1]
        shifts[f"interactions.{b}.act"] = interaction.act
    for name, act in shifts.items():
        if not isinstance(act, ShiftedSoftplus):
            raise ValueError(f"{name} is {act!r}: only torch-geometric's ShiftedSoftplus converts")
    if cutoff is not None and float(cutoff) != found["cutoff"]:
        raise ValueError(f"cutoff={cutoff!r} given, but the model has cutoff={found['cutoff']!r}")
    recorded = {"mean": model.mean, "std": model.std, "scale": model.scale}
    for key, value in {"mean": mean, "std": std, "scale": scale}.items():
        if value is not None and (recorded[key] is None or float(value) != float(recorded[key])):
            raise ValueError(f"{key}={value!r} given, but the model has {key}={recorded[key]!r}")
    return {**found, **recorded, "coeff": float(model.distance_expansion.coeff),
            "shifts": {name: float(act.shift) for name, act in shifts.items()}}


def _cutoff_of_offsets(offsets: torch.Tensor, cutoff: Optional[float]) -> float:
    """The cutoff, the last Gaussian centre (PyG places them on [0, cutoff]); when it
    is a float32 number (the centres were built in float32), the shortest decimal
    that rounds to it, so that 3.7 comes back as 3.7."""
    import numpy as np

    last = float(offsets[-1])
    if cutoff is not None:
        if abs(float(cutoff) - last) > 1e-6 * max(abs(last), 1.0):
            raise ValueError(f"cutoff={cutoff!r} given, but the model's Gaussians end at {last!r}")
        return float(cutoff)
    if float(np.float32(last)) == last:
        return float(str(np.float32(last)))
    return last


def _check_gaussians(offsets: torch.Tensor, result: SchNet, coeff: Optional[float]) -> None:
    expected = result.basis.centers.to(torch.float64)
    if offsets.numel() < 2 or not torch.allclose(offsets.to(torch.float64), expected, rtol=1e-6, atol=1e-6):
        raise ValueError(f"the Gaussian centres {offsets.tolist()} are not evenly spaced on [0, cutoff "
                         f"{result.cutoff:g}] as equipot's GaussianBasis (and PyG's GaussianSmearing) place them")
    if coeff is not None:
        width = (-0.5 / coeff) ** 0.5
        if abs(width - result.basis.width) > 1e-6 * result.basis.width:
            raise ValueError(f"the Gaussian width {width!r} is not the centres' spacing {result.basis.width!r}")


def _mapped_schnet_state(state: Dict, result: SchNet, elements: List[str], settings: Dict) -> Dict:
    numbers = embedding_rows(elements, state["embedding.weight"].shape[0], "torch-geometric")
    mapper = StateMapper(result, state)
    take = mapper.take
    shifts = settings["shifts"] or {}

    def after_ssp(linear: str, destination: str, ssp: str) -> None:
        """A Linear fed by PyG's ssp: ssp_pyg = ssp_equipot + (ln 2 - PyG's shift), a
        constant that the Linear maps to a bias: W 1 (ln 2 - shift)."""
        take(f"{linear}.weight", f"{destination}.weight")
        shift = shifts.get(ssp, _PYG_SSP_SHIFT_FLOAT32)
        weight, bias = state[f"{linear}.weight"].detach().to(torch.float64), state[f"{linear}.bias"].detach()
        take(f"{linear}.bias", f"{destination}.bias",
             (bias.to(torch.float64) + (_EQUIPOT_SSP_SHIFT - shift) * weight.sum(dim=1)).to(bias.dtype))

    take("embedding.weight", "embedding.weight", state["embedding.weight"][numbers])
    take("distance_expansion.offset", "basis.centers")
    for b in range(result.num_layers):
        source, destination = f"interactions.{b}.", f"interactions.{b}."
        take(source + "conv.lin1.weight", destination + "atoms_to_filters.weight")
        for kind in ("weight", "bias"):
            take(f"{source}conv.nn.0.{kind}", f"{destination}filter_network.0.{kind}")
            take(f"{source}conv.lin2.{kind}", f"{destination}filters_to_atoms.0.{kind}")
        after_ssp(source + "conv.nn.2", destination + "filter_network.2", source + "conv.nn.1")
        after_ssp(source + "lin", destination + "filters_to_atoms.2", source + "act")
        # the same module as conv.nn, registered twice by PyG's InteractionBlock
        mapper.ignore(k for k in state if k.startswith(source + "mlp."))
    take("lin1.weight", "readout.0.weight")
    take("lin1.bias", "readout.0.bias")
    after_ssp("lin2", "readout.2", "act")

    # per atom: scale * (std * h + mean + atomref[z])
    scale = 1.0 if settings["scale"] is None else float(settings["scale"])
    std, mean = settings["std"], settings["mean"]
    if mean is not None and std is not None:
        std, mean = float(std), float(mean)
    else:
        std, mean = 1.0, 0.0
    reference = torch.full((len(elements),), mean, dtype=torch.float64)
    if "atomref.weight" in state:
        atomref = state["atomref.weight"].detach().to(torch.float64)
        if atomref.shape[1:] != (1,) or int(numbers.max()) >= atomref.shape[0]:
            raise ValueError(f"atomref.weight: shape {tuple(atomref.shape)}, expected (rows > {int(numbers.max())}, 1)")
        reference = reference + atomref[numbers, 0]
        mapper.ignore({"atomref.weight", "initial_atomref"})
    target = mapper.state("torch-geometric")
    target["energy_scale"] = torch.tensor(scale * std, dtype=torch.float64).to(target["energy_scale"].dtype)
    target["reference_energies"] = (scale * reference).to(target["reference_energies"].dtype)
    return target
