"""TorchMD-Net 3.x (torchmd-net) TensorNet models -> equipot `TensorNet`.

A torchmd-net model (`torchmdnet.models.model.TorchMD_Net`) is a representation model,
an output head, optional priors and the training data's `std` and `mean`:

    E = sum_i (std * head(x_i) + atomref[z_i]) + mean.

What converts: representation `TensorNet` (model = "tensornet") with exp-normal radial
functions and an activation equipot has (silu/swish, ssp, tanh); the `Scalar` head
with sum reduction (reduce_op 'add'); `Atomref`/`LearnableAtomref` priors (their values
become `reference_energies`, honouring the prior's `enable` flag); `std` becomes
`energy_scale`. `derivative` (forces by autograd) is what equipot always does.

What does not, and is refused by name: other representations (graph-network,
transformer, equivariant-transformer, tensornet2), an atom filter, other output heads
or reductions, other priors (ZBL, D2, Coulomb), Gaussian radial functions, sigmoid or
mish activations, and a non-zero `mean` (a constant per *structure*, which per-atom
energies cannot express; `drop_mean=True` leaves it out, which shifts every
structure's energy by that constant and changes no force). Models trained with total
charges (hparam `charge`) are refused on load: equipot's TensorNet is TorchMD-Net's at
q = 0. torchmd-net's `box_vecs`, `max_num_neighbors` and `static_shapes` only concern
its own neighbour list and are dropped.

Exactness: the converted model equals torchmd-net's TensorNet to float64 round-off.
torchmd-net 3.1 itself runs it through Warp kernels that are slightly off the maths in
float64 (its `tensor_norm3` uses 1/3 and 2/3 rounded to float32, its shifted softplus
log 2 rounded to float32): float64 torchmd-net models agree to ~1e-8 relative, float32
ones to float32 round-off. Its Warp embedding and its pure-PyTorch fallback differ in
the sign of the antisymmetric part (see models/tensornet.py); the default matches Warp.
"""

from typing import Dict, List, Optional, Sequence, Union

import torch

from ..models.tensornet import TensorNet
from .common import element_list, embedding_rows

# torchmd-net activation name -> equipot's (Swish with beta 1 is SiLU).
ACTIVATIONS: Dict[str, str] = {"silu": "silu", "swish": "silu", "ssp": "ssp", "tanh": "tanh"}


def load(path: str):
    """The TorchMD_Net model of a torchmd-net training checkpoint (`.ckpt`, a Lightning
    dict with `hyper_parameters` and `state_dict`), on the CPU, built by torchmd-net's
    own `load_model` (which needs no CUDA and compiles no kernels)."""
    try:
        from torchmdnet.models.model import load_model
    except ImportError as error:
        raise ImportError(f"converting a torchmd-net checkpoint needs torchmd-net installed: {error}") from error
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    hyperparameters = checkpoint.get("hyper_parameters", {}) if isinstance(checkpoint, dict) else {}
    for key in ("charge", "spin"):
        if hyperparameters.get(key):
            raise ValueError(
                f"{path}: the model was trained with total {key}s ({key}=True); equipot's TensorNet has no "
                f"{key} input (it is TorchMD-Net's TensorNet at {key} 0)"
            )
    return load_model(path, derivative=False, device="cpu")


def convert(
    model,
    elements: Optional[Union[str, Sequence[str]]] = None,
    drop_mean: bool = False,
    enable_atomref: Optional[bool] = None,
    pytorch_fallback: bool = False,
) -> TensorNet:
    """The equipot TensorNet equal to `model`, a torchmd-net TorchMD_Net.

    `elements`: the chemical symbols the equipot model knows (a list, or "Cu,Ni"), in
    the order of its species indices (their embedding rows are picked by atomic
    number); by default every element that the torchmd-net embedding covers, H upwards.
    `drop_mean`: leave out a non-zero per-structure `mean` (see module docstring).
    `enable_atomref`: override the Atomref prior's `enable` flag (torchmd-net trains
    delta models with a disabled Atomref; True gives total energies).
    `pytorch_fallback`: match torchmd-net's pure-PyTorch fallback path (also
    torchmd-net 2.x) instead of its Warp kernels (the path torchmd-net 3.1 runs). The
    two build the embedding's antisymmetric part with opposite signs; that changes
    SO(3) models only, and is matched by negating our embedding's A mixing."""
    from ase.data import chemical_symbols
    from torchmdnet.models.model import TorchMD_Net
    from torchmdnet.models.output_modules import Scalar
    from torchmdnet.models.tensornet import TensorNet as PeerTensorNet
    from torchmdnet.models.utils import ExpNormalSmearing
    from torchmdnet.priors import Atomref

    if not isinstance(model, TorchMD_Net):
        raise TypeError(f"expected a torchmd-net TorchMD_Net model, got {type(model).__name__}")
    representation = model.representation_model
    if not isinstance(representation, PeerTensorNet):
        raise ValueError(
            f"representation model {type(representation).__name__} is not supported (only TensorNet converts)"
        )
    if type(model.output_model) is not Scalar:
        raise ValueError(f"output model {type(model.output_model).__name__} is not supported (only Scalar)")
    if model.output_model.reduce_op not in ("add", "sum"):
        raise ValueError(f"reduce_op '{model.output_model.reduce_op}' is not supported (per-atom energies need 'add')")
    if representation.rbf_type != "expnorm" or not isinstance(representation.distance_expansion, ExpNormalSmearing):
        raise ValueError(f"rbf_type '{representation.rbf_type}' is not supported (only 'expnorm')")
    if representation.activation not in ACTIVATIONS:
        raise ValueError(
            f"activation '{representation.activation}' is not supported (supported: {', '.join(sorted(ACTIVATIONS))})"
        )

    embedding = representation.tensor_embedding.emb.weight
    if elements is None:
        elements = chemical_symbols[1 : min(embedding.shape[0], len(chemical_symbols))]
    elements = element_list(elements, "torchmd-net")
    numbers = embedding_rows(elements, embedding.shape[0], "torchmd-net")

    reference = torch.zeros(len(elements), dtype=torch.float64)
    for prior in model.prior_model if model.prior_model is not None else []:
        if not isinstance(prior, Atomref):
            raise ValueError(f"prior model {type(prior).__name__} is not supported (only Atomref)")
        if prior.enable if enable_atomref is None else enable_atomref:
            values = prior.atomref.weight.detach().to(torch.float64).reshape(-1)
            if int(numbers.max()) >= values.shape[0]:
                raise ValueError(f"the Atomref prior has no value for Z = {int(numbers.max())}")
            reference += values[numbers]
    mean = float(model.mean.detach().reshape(-1)[0]) if model.mean.numel() else 0.0
    if mean != 0.0 and not drop_mean:
        raise ValueError(
            f"the model adds mean = {mean} to every structure's energy, which per-atom energies cannot "
            "represent; pass drop_mean=True to leave it out (energies shift by that constant, forces do not change)"
        )
    if model.std.numel() != 1:
        raise ValueError(f"std must be a scalar (one energy output), got shape {tuple(model.std.shape)}")

    head = [layer for layer in model.output_model.output_network.layers if isinstance(layer, torch.nn.Linear)]
    if len(head) != 2:
        raise ValueError(f"the Scalar output head has {len(head)} linear layers; only 2 (no hidden layers) converts")
    expansion = representation.distance_expansion
    hidden = representation.hidden_channels
    ours = TensorNet(
        elements,
        cutoff=float(representation.cutoff_upper),
        hidden_channels=hidden,
        num_interactions=len(representation.layers),
        num_rbf=representation.num_rbf,
        activation=ACTIVATIONS[representation.activation],
        equivariance_group=representation.equivariance_invariance_group,
        cutoff_lower=float(representation.cutoff_lower),
        trainable_rbf=isinstance(expansion.means, torch.nn.Parameter),
    )
    dtype = embedding.dtype
    ours = ours.to(dtype)

    peer_embedding = representation.tensor_embedding
    projections = [peer_embedding.distance_proj1, peer_embedding.distance_proj2, peer_embedding.distance_proj3]
    state = {
        "basis.means": expansion.means,
        "basis.betas": expansion.betas,
        "embedding.embedding.weight": embedding[numbers],
        "embedding.pair_embedding.weight": peer_embedding.emb2.weight,
        "embedding.pair_embedding.bias": peer_embedding.emb2.bias,
        "embedding.distance_projection.weight": torch.cat([p.weight for p in projections]),
        "embedding.distance_projection.bias": torch.cat([p.bias for p in projections]),
        "embedding.norm.weight": peer_embedding.init_norm.weight,
        "embedding.norm.bias": peer_embedding.init_norm.bias,
        "readout_norm.weight": representation.out_norm.weight,
        "readout_norm.bias": representation.out_norm.bias,
        "readout.0.weight": representation.linear.weight,
        "readout.0.bias": representation.linear.bias,
        "readout.2.weight": head[0].weight,
        "readout.2.bias": head[0].bias,
        "readout.4.weight": head[1].weight,
        "readout.4.bias": head[1].bias,
        "reference_energies": reference,
        "energy_scale": model.std.detach().reshape(()),
    }
    for k, linear in enumerate(peer_embedding.linears_scalar):
        state[f"embedding.gates.{2 * k}.weight"] = linear.weight
        state[f"embedding.gates.{2 * k}.bias"] = linear.bias
    for k, linear in enumerate(peer_embedding.linears_tensor):
        state[f"embedding.linears.{k}.weight"] = linear.weight
    if pytorch_fallback:
        state["embedding.linears.1.weight"] = -peer_embedding.linears_tensor[1].weight
    for n, layer in enumerate(representation.layers):
        for k, linear in enumerate(layer.linears_scalar):
            state[f"interactions.{n}.radial.{2 * k}.weight"] = linear.weight
            state[f"interactions.{n}.radial.{2 * k}.bias"] = linear.bias
        for k, linear in enumerate(layer.linears_tensor):
            state[f"interactions.{n}.linears.{k}.weight"] = linear.weight
    expected = set(ours.state_dict())
    if set(state) != expected:  # a layout this converter does not know
        raise ValueError(f"unexpected torchmd-net TensorNet layout: {sorted(expected ^ set(state))}")
    ours.load_state_dict({key: value.detach().to(dtype) for key, value in state.items()})
    return ours.eval()


__all__: List[str] = ["convert", "load"]
