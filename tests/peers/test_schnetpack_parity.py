"""schnetpack 2.1 SchNet and PaiNN models, converted to equipot, give the same
energies and forces on the same edges (float64, random weights, Atomwise head and
non-trivial mean/atomref/scale postprocessors).

schnetpack is fed the edge list of `conftest.edges` as its neighbour list:
idx_i = centre, idx_j = neighbour, offsets = shifts @ cell (Cartesian), so that its
PairwiseDistances gives Rij = R[idx_j] - R[idx_i] + offsets = our edge vectors."""

import numpy as np
import pytest
import torch

spk = pytest.importorskip("schnetpack")
import schnetpack.properties as props  # noqa: E402
from conftest import (assert_close_relative, cuni_cluster, cuni_periodic, edges,  # noqa: E402
                      equipot_energy_forces, water_cluster)

from equipot.convert import convert, convert_file, write_checkpoint  # noqa: E402
from equipot.models import PaiNN, SchNet, build_model  # noqa: E402

CUTOFF = 4.0
RTOL = 1e-8
CUNI = ["Cu", "Ni"]
HO = ["H", "O"]


def spk_representation(kind, features=16, interactions=2, rbf=10, nuclear_embedding=False, **options):
    cutoff_fn = spk.nn.CosineCutoff(CUTOFF)
    if nuclear_embedding:
        # 101 rows, Z = 0..100: the size of schnetpack's electron-configuration table.
        options["nuclear_embedding"] = spk.nn.embedding.NuclearEmbedding(101, features, zero_init=False)
    if kind == "schnet":
        return spk.representation.SchNet(
            n_atom_basis=features, n_interactions=interactions,
            radial_basis=spk.nn.GaussianRBF(n_rbf=rbf, cutoff=CUTOFF), cutoff_fn=cutoff_fn, **options
        )
    return spk.representation.PaiNN(
        n_atom_basis=features, n_interactions=interactions,
        radial_basis=spk.nn.BesselRBF(n_rbf=rbf, cutoff=CUTOFF), cutoff_fn=cutoff_fn, **options
    )


def spk_model(kind, seed=0, scale=None, mean=-1.3, atomref=True, representation_options=None, **atomwise_options):
    """A float64 schnetpack NNP with every parameter perturbed away from its
    initialisation (zero biases, zero-initialised embeddings) and offsets that
    differ per element."""
    torch.manual_seed(seed)
    representation = spk_representation(kind, **(representation_options or {}))
    postprocessors = [spk.transform.CastTo64()]
    scaling = [] if scale is None else [spk.transform.ScaleProperty("energy", scale=torch.tensor([scale]))]
    offsets = spk.transform.AddOffsets("energy", add_mean=True, add_atomrefs=atomref,
                                       property_mean=torch.tensor([mean]))
    if atomref:
        # (AddOffsets(atomrefs=tensor) fails in schnetpack 2.1: `tensor or ...`.)
        offsets.atomref = 0.5 * torch.randn(100)
    postprocessors.append(offsets)
    model = spk.model.NeuralNetworkPotential(
        representation=representation,
        input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[
            spk.atomistic.Atomwise(n_in=representation.n_atom_basis, output_key="energy", **atomwise_options),
            *scaling,  # where schnetpack's response config scales the energy: before Forces
            spk.atomistic.Forces(energy_key="energy", force_key="forces"),
        ],
        postprocessors=postprocessors,
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    return model.double().eval()  # eval() also refreshes a NuclearEmbedding's table


def spk_energy_forces(model, atoms):
    i, j, shifts, _ = edges(atoms, CUTOFF)
    cell = torch.tensor(np.asarray(atoms.cell[:]), dtype=torch.float64)
    n = len(atoms)
    inputs = {
        props.Z: torch.tensor(atoms.numbers, dtype=torch.int64),
        props.R: torch.tensor(atoms.positions, dtype=torch.float64),
        props.cell: cell.unsqueeze(0),
        props.pbc: torch.tensor(atoms.pbc).unsqueeze(0),
        props.idx_i: torch.from_numpy(i),
        props.idx_j: torch.from_numpy(j),
        props.offsets: torch.from_numpy(shifts).double() @ cell,
        props.idx_m: torch.zeros(n, dtype=torch.int64),
        props.n_atoms: torch.tensor([n]),
    }
    out = model(inputs)
    return float(out["energy"].detach()[0]), out["forces"].detach().numpy()


def structures(elements):
    if elements == HO:
        return {"water": water_cluster()}
    return {"periodic": cuni_periodic(), "cluster": cuni_cluster()}


def check_parity(spk_nnp, equipot_model, elements):
    errors = {}
    for name, atoms in structures(elements).items():
        e_ref, f_ref = spk_energy_forces(spk_nnp, atoms)
        e, f = equipot_energy_forces(equipot_model, atoms)
        assert np.max(np.abs(f_ref)) > 1e-3, "vacuous comparison: no forces"
        assert_close_relative(e, e_ref, RTOL)
        assert_close_relative(f, f_ref, RTOL)
        errors[name] = (abs(e - e_ref) / abs(e_ref), np.max(np.abs(f - f_ref)) / np.max(np.abs(f_ref)))
    return errors


CASES = {
    "schnet": dict(kind="schnet"),
    "schnet_filters_shared": dict(kind="schnet", representation_options=dict(n_filters=12, shared_interactions=True)),
    "schnet_ssp_readout_scaled": dict(kind="schnet", scale=0.37, activation=spk.nn.shifted_softplus),
    "painn": dict(kind="painn"),
    "painn_3_layers": dict(kind="painn", representation_options=dict(interactions=3, rbf=7)),
    "painn_shared_filters": dict(kind="painn", representation_options=dict(shared_filters=True)),
    "painn_shared_interactions": dict(kind="painn", representation_options=dict(shared_interactions=True)),
    "painn_nuclear_embedding_scaled": dict(
        kind="painn", scale=2.5, atomref=False,
        representation_options=dict(nuclear_embedding=True),
    ),
}


@pytest.mark.parametrize("elements", [CUNI, HO], ids=["CuNi", "HO"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_parity(case, elements):
    options = dict(CASES[case])
    nnp = spk_model(seed=len(case), **options)
    model = convert("schnetpack", nnp, elements=elements)
    assert isinstance(model, SchNet if options["kind"] == "schnet" else PaiNN)
    assert model.elements == elements and model.cutoff == CUTOFF
    assert next(model.parameters()).dtype == torch.float64
    errors = check_parity(nnp, model, elements)
    print(case, {k: f"E {e:.1e} F {f:.1e}" for k, (e, f) in errors.items()})


def test_converted_options():
    painn = convert("schnetpack", spk_model("painn", representation_options=dict(shared_interactions=True,
                                                                                  shared_filters=True)), elements=CUNI)
    hyper = painn.hyperparameters()
    assert hyper["shared_interactions"] and hyper["shared_filters"] and hyper["readout_activation"] == "silu"
    assert painn.messages[0] is painn.messages[1]
    schnet = convert("schnetpack", spk_model("schnet"), elements=CUNI)
    assert schnet.hyperparameters()["activation"] == "ssp"
    assert schnet.hyperparameters()["readout_activation"] == "silu"


@pytest.mark.parametrize("kind", ["schnet", "painn"])
def test_saved_file_to_checkpoint(kind, tmp_path):
    nnp = spk_model(kind, seed=5, scale=1.7)
    path = str(tmp_path / "best_model")
    torch.save(nnp, path)
    model = convert_file("schnetpack", path, elements="Cu,Ni")
    checkpoint_path = str(tmp_path / "checkpoint.pt")
    write_checkpoint(model, checkpoint_path, origin=f"schnetpack:{path}")
    checkpoint = torch.load(checkpoint_path, weights_only=False)
    rebuilt = build_model(checkpoint["architecture"], checkpoint["elements"], **checkpoint["hyperparameters"])
    rebuilt = rebuilt.to(torch.float64)
    rebuilt.load_state_dict(checkpoint["model_state"])
    check_parity(nnp, rebuilt.eval(), CUNI)


def test_cli_convert(tmp_path):
    from equipot import cli

    nnp = spk_model("painn", seed=7)
    path = str(tmp_path / "best_model")
    torch.save(nnp, path)
    output = str(tmp_path / "checkpoint.pt")
    assert cli.main(["convert", "--from", "schnetpack", path, "--elements", "Cu,Ni", "-o", output]) == 0
    checkpoint = torch.load(output, weights_only=False)
    assert checkpoint["architecture"] == "painn" and checkpoint["elements"] == CUNI
    rebuilt = build_model("painn", CUNI, **checkpoint["hyperparameters"]).to(torch.float64)
    rebuilt.load_state_dict(checkpoint["model_state"])
    check_parity(nnp, rebuilt.eval(), CUNI)
    assert cli.main(["convert", "--from", "schnetpack", path, "-o", output]) == 1  # no elements


def test_bare_representation_and_atomwise():
    torch.manual_seed(3)
    representation = spk_representation("painn")
    atomwise = spk.atomistic.Atomwise(n_in=16, output_key="energy")
    nnp = spk.model.NeuralNetworkPotential(
        representation=representation, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=[atomwise, spk.atomistic.Forces(energy_key="energy")],
    )
    with torch.no_grad():
        for parameter in nnp.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    nnp = nnp.double().eval()
    model = convert("schnetpack", (representation, atomwise), elements=CUNI)
    check_parity(nnp, model, CUNI)


def test_errors():
    nnp = spk_model("painn")
    with pytest.raises(ValueError, match="elements"):
        convert("schnetpack", nnp)
    with pytest.raises(ValueError, match="Xx"):
        convert("schnetpack", nnp, elements=["Cu", "Xx"])
    with pytest.raises(ValueError, match="aggregation"):
        convert("schnetpack", spk_model("painn", aggregation_mode="avg"), elements=CUNI)
    with pytest.raises(ValueError, match="Atomwise layers"):
        convert("schnetpack", spk_model("schnet", n_layers=3), elements=CUNI)
    odd = spk_model("schnet")
    odd.postprocessors.append(spk.transform.SubtractCenterOfMass())
    with pytest.raises(ValueError, match="SubtractCenterOfMass"):
        convert("schnetpack", odd, elements=CUNI)
    late_scale = spk_model("schnet")
    late_scale.postprocessors.append(spk.transform.ScaleProperty("energy", scale=torch.tensor([2.0])))
    with pytest.raises(ValueError, match="ScaleProperty"):
        convert("schnetpack", late_scale, elements=CUNI)
    intensive = spk_model("schnet")
    intensive.postprocessors[-1].is_extensive = False
    with pytest.raises(ValueError, match="is_extensive"):
        convert("schnetpack", intensive, elements=CUNI)
    mollifier = spk_model("schnet")
    mollifier.representation.cutoff_fn = spk.nn.MollifierCutoff(CUTOFF)
    with pytest.raises(ValueError, match="MollifierCutoff"):
        convert("schnetpack", mollifier, elements=CUNI)
    dipole = spk_model("painn")
    dipole.output_modules.append(spk.atomistic.DipoleMoment(n_in=16))
    with pytest.raises(ValueError, match="DipoleMoment"):
        convert("schnetpack", dipole, elements=CUNI)
