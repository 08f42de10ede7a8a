"""schnetpack 2.x -> equipot, with the same weights and the same energies.

Accepts a `schnetpack.model.NeuralNetworkPotential` (what `spktrain` writes as
`best_model`, or any `torch.save`d NNP) made of
- input modules: `PairwiseDistances` only;
- representation: `representation.SchNet` (GaussianRBF, CosineCutoff) -> equipot
  `SchNet`, or `representation.PaiNN` (BesselRBF, CosineCutoff) -> equipot `PaiNN`;
  embedding `nn.Embedding` or `nn.NuclearEmbedding`; no electronic embeddings;
- output modules, in this order: one `Atomwise` energy head (2 layers,
  F -> F/2 -> 1, summed over atoms), any `ScaleProperty` of that energy in place
  (schnetpack's response config puts it there), then optionally `Forces` of it;
- postprocessors (applied only when the model's `do_postprocessing` is on, as
  schnetpack itself does): `CastTo64`/`CastTo32`/`CastMap` (dtype only) and
  `AddOffsets`/`RemoveOffsets` of the energy (extensive mean per atom, atomrefs).
The scale and offsets fold into equipot's per-atom
E_i = energy_scale * out_i + reference_energies[species_i]. A `ScaleProperty` of
the energy after `Forces` (or as a postprocessor) is refused: schnetpack would scale
its energies but not its forces, which no conservative model reproduces.
Anything else is an error that names it: nothing is silently dropped.
A bare `(representation, atomwise)` pair is accepted too.

schnetpack embeds atomic numbers up to max_z and does not record which elements a
model was trained on, so `elements` (a list, or "Cu,Ni") must be given; equipot
keeps the embedding rows of those atomic numbers.

Weight-tied schnetpack SchNet interactions (`shared_interactions=True`) become
separate equipot blocks holding copies of the same weights: the same function,
though training the converted model would untie them. PaiNN keeps its sharing
options (`shared_interactions`, `shared_filters`).
"""

from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from ..models import PaiNN, SchNet
from .common import element_list, embedding_rows, numbers_of


def load(path: str):
    """The schnetpack model saved at `path` (`torch.save(model)`, e.g. `best_model`,
    or a saved `AtomisticTask`)."""
    try:
        import schnetpack  # noqa: F401  (its classes must be importable to unpickle)
    except ImportError as error:
        raise ValueError(f"reading a schnetpack model needs schnetpack installed ({error})") from None
    obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, dict):
        raise ValueError(
            f"'{path}' holds a state dict / Lightning checkpoint, not a schnetpack model; "
            "convert the saved model instead (spktrain writes it as 'best_model')"
        )
    if not isinstance(obj, nn.Module):
        raise ValueError(f"'{path}' does not hold a schnetpack model (found {type(obj).__name__})")
    if hasattr(obj, "model") and not hasattr(obj, "representation"):  # AtomisticTask
        obj = obj.model
    return obj


def convert(model, elements: Optional[Union[str, Sequence[str]]] = None, postprocessing: Optional[bool] = None):
    """The equipot model equivalent to the schnetpack `model` restricted to
    `elements`. `postprocessing` overrides the model's own `do_postprocessing`."""
    import schnetpack as spk

    elements = element_list(elements, "schnetpack")
    if isinstance(model, (tuple, list)):
        if len(model) != 2:
            raise ValueError("a bare schnetpack model is a (representation, Atomwise) pair")
        representation, atomwise = model
        postprocessors, scale = [], 1.0
    else:
        if not isinstance(model, spk.model.NeuralNetworkPotential):
            raise ValueError(f"expected a schnetpack NeuralNetworkPotential, got {type(model).__name__}")
        for module in model.input_modules:
            if not isinstance(module, spk.atomistic.PairwiseDistances):
                raise ValueError(f"cannot convert schnetpack input module {type(module).__name__}")
        representation = model.representation
        atomwise, scale = _energy_head(model.output_modules, spk)
        apply = model.do_postprocessing if postprocessing is None else postprocessing
        postprocessors = list(model.postprocessors) if apply else []
    if not isinstance(atomwise, spk.atomistic.Atomwise):
        raise ValueError(f"expected a schnetpack Atomwise energy head, got {type(atomwise).__name__}")

    dtype = next(representation.parameters()).dtype
    readout_activation, readout_state = _readout(atomwise, representation.n_atom_basis)
    if isinstance(representation, spk.representation.PaiNN):
        equipot_model, state = _painn(representation, elements, readout_activation, spk)
    elif isinstance(representation, spk.representation.SchNet):
        equipot_model, state = _schnet(representation, elements, readout_activation, spk)
    else:
        raise ValueError(
            f"cannot convert schnetpack representation {type(representation).__name__} (SchNet and PaiNN can be)"
        )
    state.update(readout_state)
    references = _postprocessors(postprocessors, atomwise.output_key, elements, spk)
    state["energy_scale"] = torch.tensor(scale, dtype=torch.float64)
    state["reference_energies"] = references
    equipot_model = equipot_model.to(dtype)
    equipot_model.load_state_dict({key: value.detach().to(dtype) for key, value in state.items()}, strict=True)
    return equipot_model.eval()


# ---------------------------------------------------------------------------------


def _energy_head(output_modules, spk):
    """The Atomwise energy head and the product of the energy scales after it."""
    modules = list(output_modules)
    if not modules or not isinstance(modules[0], spk.atomistic.Atomwise):
        found = type(modules[0]).__name__ if modules else "nothing"
        raise ValueError(f"expected a schnetpack Atomwise energy head as first output module, found {found}")
    head, energy_key, scale, differentiated = modules[0], modules[0].output_key, 1.0, False
    for module in modules[1:]:
        name = type(module).__name__
        if isinstance(module, spk.atomistic.Forces):
            # equipot takes forces (and stress) from autograd of the same energy.
            if module.energy_key != energy_key:
                raise ValueError(f"schnetpack Forces differentiates '{module.energy_key}', not '{energy_key}'")
            differentiated = True
        elif isinstance(module, spk.transform.ScaleProperty):
            if module.input_key != energy_key or module.output_key != energy_key:
                raise ValueError(
                    f"cannot convert schnetpack ScaleProperty '{module.input_key}' -> '{module.output_key}' "
                    f"(only the energy '{energy_key}' scaled in place)"
                )
            if differentiated:
                raise ValueError("schnetpack ScaleProperty after Forces scales the energy but not the forces")
            scale *= float(module.scale.reshape(-1)[0])
        else:
            raise ValueError(f"cannot convert schnetpack output module {name}")
    return head, scale


def _activation_name(fn, where: str) -> str:
    """equipot's name for a schnetpack layer activation (function or module)."""
    import torch.nn.functional as F
    from schnetpack.nn import activations as spk_activations

    functions = {
        F.silu: "silu",
        spk_activations.shifted_softplus: "ssp",
        F.softplus: "softplus",
        torch.tanh: "tanh",
        F.tanh: "tanh",
        F.gelu: "gelu",
    }
    for function, name in functions.items():
        if fn is function:
            return name
    if isinstance(fn, nn.SiLU):
        return "silu"
    if isinstance(fn, nn.Tanh):
        return "tanh"
    if isinstance(fn, nn.GELU) and fn.approximate == "none":
        return "gelu"
    if isinstance(fn, nn.Softplus) and fn.beta == 1.0 and fn.threshold == 20.0:
        return "softplus"
    if isinstance(fn, spk_activations.ShiftedSoftplus):
        if float(fn.alpha) == 1.0 and float(fn.beta) == 1.0:
            return "ssp"
    raise ValueError(f"cannot convert the activation {fn!r} of schnetpack {where}")


def _dense_activation(layer, where: str) -> str:
    return _activation_name(layer.activation, where)


def _check_no_activation(layer, where: str) -> None:
    if not isinstance(layer.activation, nn.Identity):
        raise ValueError(f"schnetpack {where} has an activation after its last layer, which equipot does not")


def _linear(prefix: str, layer) -> Dict[str, torch.Tensor]:
    state = {f"{prefix}.weight": layer.weight}
    if layer.bias is not None:
        state[f"{prefix}.bias"] = layer.bias
    return state


def _embedding_rows(representation, elements: List[str], spk) -> torch.Tensor:
    if representation.electronic_embeddings is not None and len(representation.electronic_embeddings) > 0:
        names = ", ".join(type(m).__name__ for m in representation.electronic_embeddings)
        raise ValueError(f"cannot convert schnetpack electronic embeddings ({names})")
    embedding = representation.embedding
    if isinstance(embedding, nn.Embedding):
        table = embedding.weight
    elif isinstance(embedding, spk.nn.embedding.NuclearEmbedding):
        # Its rows are a free table plus a linear map of the electron configuration.
        with torch.no_grad():
            table = embedding.element_embedding + embedding.config_linear(embedding.electron_config)
    else:
        raise ValueError(f"cannot convert schnetpack nuclear embedding {type(embedding).__name__}")
    return table.detach()[embedding_rows(elements, table.shape[0], "schnetpack")]


def _cosine_cutoff(representation, spk) -> float:
    if not isinstance(representation.cutoff_fn, spk.nn.CosineCutoff):
        raise ValueError(
            f"cannot convert schnetpack cutoff function {type(representation.cutoff_fn).__name__} (CosineCutoff can be)"
        )
    return float(representation.cutoff_fn.cutoff.reshape(-1)[0])


def _shared(modules) -> bool:
    return len(modules) > 1 and all(m is modules[0] for m in modules)


def _schnet(representation, elements, readout_activation, spk):
    cutoff = _cosine_cutoff(representation, spk)
    rbf = representation.radial_basis
    if type(rbf) is not spk.nn.GaussianRBF:
        raise ValueError(f"cannot convert schnetpack SchNet radial basis {type(rbf).__name__} (GaussianRBF can be)")
    interactions = representation.interactions
    first = interactions[0]
    activation = _dense_activation(first.filter_network[0], "SchNet filter network")
    for index, block in enumerate(interactions):
        for layer, where in ((block.filter_network[0], "filter network"), (block.f2out[0], "f2out")):
            if _dense_activation(layer, f"SchNet interaction {index} {where}") != activation:
                raise ValueError("schnetpack SchNet layers use different activations; equipot SchNet has one")
        _check_no_activation(block.filter_network[1], f"SchNet interaction {index} filter network")
        _check_no_activation(block.f2out[1], f"SchNet interaction {index} f2out")
        _check_no_activation(block.in2f, f"SchNet interaction {index} in2f")
    model = SchNet(
        elements,
        cutoff=cutoff,
        num_features=representation.n_atom_basis,
        num_filters=representation.n_filters,
        num_interactions=len(interactions),
        num_basis=rbf.n_rbf,
        activation=activation,
        readout_activation=readout_activation,
    )
    # The Gaussian width is a constant in equipot (derived from cutoff and count), so
    # it must be the one schnetpack used; the centres are copied exactly.
    widths = rbf.widths.detach().double()
    if not torch.allclose(widths, torch.full_like(widths, model.basis.width), rtol=1e-6, atol=0.0):
        raise ValueError(
            f"schnetpack GaussianRBF widths {widths.tolist()} differ from equipot's {model.basis.width} "
            "(trained widths, or a basis cutoff other than the cutoff function's)"
        )
    state = {"embedding.weight": _embedding_rows(representation, elements, spk), "basis.centers": rbf.offsets}
    for index, block in enumerate(interactions):
        prefix = f"interactions.{index}"
        state.update(_linear(f"{prefix}.atoms_to_filters", block.in2f))
        state.update(_linear(f"{prefix}.filter_network.0", block.filter_network[0]))
        state.update(_linear(f"{prefix}.filter_network.2", block.filter_network[1]))
        state.update(_linear(f"{prefix}.filters_to_atoms.0", block.f2out[0]))
        state.update(_linear(f"{prefix}.filters_to_atoms.2", block.f2out[1]))
    return model, state


def _painn(representation, elements, readout_activation, spk):
    cutoff = _cosine_cutoff(representation, spk)
    rbf = representation.radial_basis
    if type(rbf) is not spk.nn.BesselRBF:
        raise ValueError(f"cannot convert schnetpack PaiNN radial basis {type(rbf).__name__} (BesselRBF can be)")
    interactions, mixing = representation.interactions, representation.mixing
    num_interactions = representation.n_interactions
    activation = _dense_activation(interactions[0].interatomic_context_net[0], "PaiNN interaction")
    for index in range(num_interactions):
        for layer, where in (
            (interactions[index].interatomic_context_net[0], "interaction"),
            (mixing[index].intraatomic_context_net[0], "mixing"),
        ):
            if _dense_activation(layer, f"PaiNN {where} {index}") != activation:
                raise ValueError("schnetpack PaiNN layers use different activations; equipot PaiNN has one")
        _check_no_activation(interactions[index].interatomic_context_net[1], f"PaiNN interaction {index}")
        _check_no_activation(mixing[index].intraatomic_context_net[1], f"PaiNN mixing {index}")
        _check_no_activation(mixing[index].mu_channel_mix, f"PaiNN mixing {index} mu_channel_mix")
    _check_no_activation(representation.filter_net, "PaiNN filter net")
    epsilons = {float(m.epsilon) for m in mixing}
    if len(epsilons) != 1:
        raise ValueError(f"schnetpack PaiNN mixing blocks use different epsilons {sorted(epsilons)}")
    shared_interactions = _shared(interactions)
    if shared_interactions != _shared(mixing):
        raise ValueError("schnetpack PaiNN shares interaction weights but not mixing weights (or the reverse)")
    model = PaiNN(
        elements,
        cutoff=cutoff,
        num_features=representation.n_atom_basis,
        num_interactions=num_interactions,
        num_basis=rbf.n_rbf,
        activation=activation,
        shared_interactions=shared_interactions,
        shared_filters=bool(representation.share_filters),
        epsilon=epsilons.pop(),
        readout_activation=readout_activation,
    )
    # The radial frequencies are copied, whatever cutoff the basis was built with.
    state = {
        "embedding.weight": _embedding_rows(representation, elements, spk),
        "basis.frequencies": rbf.freqs,
    }
    state.update(_linear("filter_network", representation.filter_net))
    for index in range(num_interactions):
        message, update = interactions[index], mixing[index]
        state.update(_linear(f"messages.{index}.context.0", message.interatomic_context_net[0]))
        state.update(_linear(f"messages.{index}.context.2", message.interatomic_context_net[1]))
        state.update(_linear(f"updates.{index}.vector_mix", update.mu_channel_mix))
        state.update(_linear(f"updates.{index}.context.0", update.intraatomic_context_net[0]))
        state.update(_linear(f"updates.{index}.context.2", update.intraatomic_context_net[1]))
    return model, state


def _readout(atomwise, num_features: int):
    """The activation name and equipot state of schnetpack's Atomwise network."""
    if atomwise.aggregation_mode != "sum":
        raise ValueError(
            f"schnetpack Atomwise aggregation '{atomwise.aggregation_mode}' is not a sum of per-atom energies"
        )
    if atomwise.n_out != 1:
        raise ValueError(f"schnetpack Atomwise has {atomwise.n_out} outputs; an energy has 1")
    layers = list(atomwise.outnet)
    hidden = max(1, num_features // 2)
    shapes = [tuple(layer.weight.shape) for layer in layers]
    if shapes != [(hidden, num_features), (1, hidden)] or any(layer.bias is None for layer in layers):
        raise ValueError(
            f"schnetpack Atomwise layers {shapes} are not the default two-layer F -> F/2 -> 1 network "
            "that equipot's readout is"
        )
    name = _dense_activation(layers[0], "Atomwise")
    _check_no_activation(layers[1], "Atomwise")
    state = _linear("readout.0", layers[0])
    state.update(_linear("readout.2", layers[1]))
    return name, state


def _postprocessors(postprocessors, energy_key: str, elements: List[str], spk) -> torch.Tensor:
    """The per-element energy offsets the postprocessors add."""
    references = torch.zeros(len(elements), dtype=torch.float64)
    numbers = numbers_of(elements)
    for module in postprocessors:
        name = type(module).__name__
        if isinstance(module, spk.transform.CastMap):
            continue
        if isinstance(module, (spk.transform.AddOffsets, spk.transform.RemoveOffsets)):
            if module._property != energy_key:
                raise ValueError(f"cannot convert schnetpack {name} on '{module._property}' (not the energy)")
            sign = 1.0 if isinstance(module, spk.transform.AddOffsets) else -1.0
            use_mean = module.add_mean if sign > 0 else module.remove_mean
            use_atomrefs = module.add_atomrefs if sign > 0 else module.remove_atomrefs
            if not module.is_extensive:
                raise ValueError(f"cannot convert schnetpack {name} with is_extensive=False (not per atom)")
            if use_mean:
                references += sign * float(module.mean.reshape(-1)[0])
            if use_atomrefs:
                atomref = module.atomref.detach().double()
                if int(numbers.max()) >= atomref.shape[0]:
                    raise ValueError(f"schnetpack {name} atomrefs have {atomref.shape[0]} entries; too few")
                references += sign * atomref[numbers]
            continue
        if isinstance(module, spk.transform.ScaleProperty):
            raise ValueError(
                "cannot convert schnetpack postprocessor ScaleProperty: it scales energies after the forces "
                "were taken, so schnetpack's energies and forces disagree"
            )
        raise ValueError(f"cannot convert schnetpack postprocessor {name}")
    return references
