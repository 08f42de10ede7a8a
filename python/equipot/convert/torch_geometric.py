"""torch-geometric's DimeNet++ -> equipot `DimeNetPlusPlus`, with the same weights
and the same energies (torch_geometric.nn.models.DimeNetPlusPlus, the one users
load; the weights of klicperajo/dimenet's TensorFlow checkpoints reach it through
its `from_qm9_pretrained`).

Accepted: the model object, or its state dict (a file from
`torch.save(model.state_dict())`, also nested under 'state_dict' /
'model_state_dict' / 'model' and with a common key prefix, as Lightning writes).
PyG's DimeNet++ cannot be pickled whole (its spherical basis holds sympy-lambdified
functions), so a state dict is what users have. All sizes are read from the
tensor shapes; what a state dict does not record must be given: `cutoff`
(required), `envelope_exponent` (default 5) and `activation` (default 'swish',
torch-geometric's defaults). For a model object they are read from it.

How it maps:
- PyG's output blocks produce one value per atom (messages summed onto their
  centre atom i by scatter), which its forward adds over blocks and then over the
  atoms of each graph (`P.sum(dim=0)`). Those per-atom values are equipot's
  per-atom energies (energy_scale 1, reference energies 0); only out_channels = 1
  (an energy) is accepted.
- Embedding rows (PyG embeds atomic numbers 0..94) are picked by the atomic numbers
  of `elements`, which PyG models do not record and must be given.
- The model is built with reference_quirks=True (see equipot.models.dimenet), its
  radial frequencies are PyG's divided by the cutoff (equipot's are in 1/A), and
  the spherical Bessel roots and normalisations are the ones PyG puts into its
  lambdified functions (its `dimenet_utils`: roots rounded to float32), so that the
  two agree to ~1e-15 in float64 and not only to ~1e-7.
Differences that remain, by design: PyG builds its graph with radius_graph capped
at max_num_neighbors (32) per atom, equipot uses every neighbour within the cutoff;
PyG drops every triplet with k = i, equipot only the reverse edge itself, which
differs only in periodic cells smaller than twice the cutoff (PyG has no periodic
boundary conditions).
"""

from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from ..models import DimeNetPlusPlus
from ..nn import ACTIVATIONS

_PYG_DEFAULTS = {"envelope_exponent": 5, "activation": "swish"}


def load(path: str):
    """The DimeNet++ saved at `path`: a whole pickled model (torch.load with
    weights_only=False, only for files you trust) or a state dict."""
    obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, nn.Module) or isinstance(obj, dict):
        return obj
    raise ValueError(f"'{path}' holds neither a torch-geometric model nor a state dict (found {type(obj).__name__})")


def convert(model, elements: Optional[Union[str, Sequence[str]]] = None, cutoff: Optional[float] = None,
            envelope_exponent: Optional[int] = None, activation: Optional[str] = None) -> DimeNetPlusPlus:
    """The equipot DimeNetPlusPlus equivalent to torch-geometric's `model` (a
    DimeNetPlusPlus or its state dict) restricted to `elements`."""
    elements = _elements(elements)
    if isinstance(model, nn.Module):
        state = model.state_dict()
        settings = _settings_of_module(model, cutoff, envelope_exponent, activation)
    elif isinstance(model, dict):
        state = _unwrap_state_dict(model)
        if cutoff is None:
            raise ValueError("a torch-geometric state dict does not record the cutoff: give it (cutoff=5.0)")
        settings = {
            "cutoff": float(cutoff),
            "envelope_exponent": int(_PYG_DEFAULTS["envelope_exponent"] if envelope_exponent is None
                                     else envelope_exponent),
            "activation": _activation_from_name(_PYG_DEFAULTS["activation"] if activation is None else activation),
        }
    else:
        raise ValueError(f"expected a torch-geometric DimeNetPlusPlus or its state dict, got {type(model).__name__}")

    sizes = _sizes(state)
    dtype = state["rbf.freq"].dtype
    with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten: leave the caller's RNG alone
        result = DimeNetPlusPlus(elements, reference_quirks=True, **settings, **sizes).to(dtype)
    result.load_state_dict(_mapped_state(state, result, elements, settings["cutoff"], sizes))
    return result.eval()


def _elements(elements) -> List[str]:
    from ase.data import atomic_numbers

    if elements is None:
        raise ValueError(
            "torch-geometric models do not record which elements they were trained on: "
            "give them (elements=['H', 'O']; on the command line --elements H,O)"
        )
    if isinstance(elements, str):
        elements = [e.strip() for e in elements.replace(",", " ").split()]
    elements = list(elements)
    for symbol in elements:
        if symbol not in atomic_numbers or atomic_numbers[symbol] == 0:
            raise ValueError(f"unknown element '{symbol}'")
    if not elements or len(set(elements)) != len(elements):
        raise ValueError(f"elements must be a non-empty list without repeats, got {elements}")
    return elements


def _settings_of_module(model, cutoff, envelope_exponent, activation) -> Dict:
    from torch_geometric.nn.models import DimeNet, DimeNetPlusPlus as PygDimeNetPlusPlus

    if not isinstance(model, PygDimeNetPlusPlus):
        if isinstance(model, DimeNet):
            raise ValueError("torch-geometric's DimeNet (not ++) is not supported: equipot has DimeNet++ only")
        raise ValueError(f"expected torch-geometric's DimeNetPlusPlus, got {type(model).__name__}")
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


def _unwrap_state_dict(obj: Dict) -> Dict[str, torch.Tensor]:
    for key in ("state_dict", "model_state_dict", "model"):
        if key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    keys = [k for k in obj if isinstance(k, str) and k.endswith("rbf.freq")]
    if len(keys) != 1:
        raise ValueError("not a torch-geometric DimeNet++ state dict (no single 'rbf.freq' entry)")
    prefix = keys[0][: -len("rbf.freq")]
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
    from ase.data import atomic_numbers

    numbers = [atomic_numbers[e] for e in elements]
    rows = state["emb.emb.weight"].shape[0]
    if max(numbers) >= rows:
        raise ValueError(f"the model embeds atomic numbers below {rows}; {elements} include a larger one")
    target = {k: v.clone() for k, v in result.state_dict().items()}
    used = set()

    def take(source: str, destination: str, value: Optional[torch.Tensor] = None) -> None:
        tensor = state[source] if value is None else value
        if target[destination].shape != tensor.shape:
            raise ValueError(
                f"{source}: shape {tuple(tensor.shape)} where {tuple(target[destination].shape)} is expected")
        target[destination] = tensor.detach().to(target[destination].dtype).clone()
        used.add(source)

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
    unused = sorted(set(state) - used)
    if unused:
        raise ValueError(f"torch-geometric entries with no equipot counterpart: {', '.join(unused)}")
    roots, normalizers = _pyg_spherical_constants(result.num_spherical, result.num_radial)
    target["spherical_radial.roots"] = roots.to(target["spherical_radial.roots"].dtype)
    target["spherical_radial.normalizers"] = normalizers.to(target["spherical_radial.normalizers"].dtype)
    return target
