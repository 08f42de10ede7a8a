"""equipot as an openmm-ml potential: MLPotential("equipot", modelPath=...) found through
equipot's entry point, in unmodified openmm-ml, against TorchForce used directly."""

import importlib.metadata
import os
import subprocess
import sys
import textwrap

import numpy as np
import openmm
import pytest
import torch
from openmm import app, unit
from openmmml import MLPotential

from equipot._core import ANGSTROM_PER_NM
from equipot.openmm import TorchForce
from omm_helpers import cuni_fcc, evaluate, make_topology, openmm_system, water_cluster
from test_openmm_mixed import ML_ATOMS, torch_force_of, water_mm_system, waters  # noqa: F401  (fixture)

ML_GROUP = 3  # the ML force's group, to evaluate it alone


def run_python(code):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=120, cwd=os.path.dirname(__file__))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_entry_point_registered_without_loading_torch():
    (entry,) = [e for e in importlib.metadata.entry_points(group="openmmml.potentials") if e.name == "equipot"]
    assert entry.value == "equipot.openmm_ml:EquipotPotentialImplFactory"
    # openmm-ml imports every potential's entry point in `import openmmml`; it loads no
    # torch by itself, and neither may ours (nor equipot's core or OpenMM plugin).
    out = run_python("""
        import sys
        import openmmml
        factory = openmmml.MLPotential._implFactories["equipot"]
        print(type(factory).__module__, type(factory).__name__)
        heavy = ("torch", "equipot._core", "equipot.openmm", "equipot.openmmplugin")
        print(sorted(m for m in heavy if m in sys.modules))
    """)
    assert out.split("\n")[:2] == ["equipot.openmm_ml EquipotPotentialImplFactory", "[]"]


def test_openmmml_imports_without_the_plugin(models):
    # An equipot built without its OpenMM plugin (or with a broken one) must not break
    # openmm-ml for other potentials; it fails when an equipot potential is created.
    out = run_python(f"""
        import sys

        class NoPlugin:
            def find_spec(self, name, path=None, target=None):
                if name == "equipot.openmmplugin":
                    raise ImportError("equipot.openmmplugin is blocked by this test")

        sys.meta_path.insert(0, NoPlugin())
        from openmmml import MLPotential
        assert "equipot" in MLPotential._implFactories
        try:
            MLPotential("equipot", modelPath={models[("cuni", "float64")]!r})
        except ImportError as error:
            print(error)
    """)
    assert "built without its OpenMM plugin" in out


def cuni_case():
    """Periodic CuNi box (32 atoms); MM: a periodic elastic network (harmonic bonds
    between neighbours), so that the ML/MM split is exact; ML: atom 0 and its neighbours."""
    symbols, positions, cell = cuni_fcc(repeat=2, seed=4)
    topology = make_topology(symbols, cell)
    mm_system = openmm_system(symbols, cell)
    bonds = openmm.HarmonicBondForce()
    bonds.setUsesPeriodicBoundaryConditions(True)
    vectors = positions[None, :, :] - positions[:, None, :]
    vectors -= np.round(vectors @ np.linalg.inv(cell)) @ cell  # orthogonal box: minimum images
    distances = np.linalg.norm(vectors, axis=-1)
    for i, j in zip(*np.nonzero(np.triu(distances < 3.0, k=1))):
        bonds.addBond(int(i), int(j), 0.25, 5000.0)
    mm_system.addForce(bonds)
    ml_atoms = [int(a) for a in np.nonzero(distances[0] < 3.0)[0]]
    return topology, positions, cell, mm_system, ml_atoms


def tip3p_case():
    """TIP3P water box (amber14/tip3p.xml, PME, rigid water, 96 atoms); ML: the first
    water and the water nearest to it (all ML pairs within the cutoff, so that
    lambda_interpolate=0 is the MM system up to the Ewald error)."""
    forcefield = app.ForceField("amber14/tip3p.xml")
    modeller = app.Modeller(app.Topology(), [])
    modeller.addSolvent(forcefield, boxSize=openmm.Vec3(1.0, 1.0, 1.0) * unit.nanometer)
    topology = modeller.topology
    positions = np.array(modeller.positions.value_in_unit(unit.angstrom))
    cell = np.eye(3) * ANGSTROM_PER_NM  # 1 nm
    mm_system = forcefield.createSystem(topology, nonbondedMethod=app.PME, nonbondedCutoff=0.45 * unit.nanometer,
                                        ewaldErrorTolerance=1e-6)
    oxygens = np.arange(0, len(positions), 3)
    d = positions[oxygens] - positions[0]
    d -= np.round(d / ANGSTROM_PER_NM) * ANGSTROM_PER_NM
    nearest = int(oxygens[np.argsort(np.linalg.norm(d, axis=1))[1]])
    return topology, positions, cell, mm_system, [0, 1, 2, nearest, nearest + 1, nearest + 2]


@pytest.fixture(params=["cuni", "tip3p", "water_cluster"])
def mixed_case(request, models, waters):  # noqa: F811
    """(model, topology, positions (A), cell (A) or None, MM system, ML atoms, relative tolerance of
    lambda_interpolate=0 against the MM system)."""
    if request.param == "cuni":
        return (models[("cuni", "float64")], *cuni_case(), 1e-12)
    if request.param == "tip3p":
        return (models[("ho", "float64")], *tip3p_case(), 1e-9)
    # openmm-ml restores the ML-ML Coulomb pairs with 138.935456 for OpenMM's 138.9354576...
    symbols, positions, topology = waters
    return models[("ho", "float64")], topology, positions, None, water_mm_system(4, cmap=True), ML_ATOMS, 1e-8


def direct_system(model, topology, cell, atoms=None):
    """A System holding only equipot's TorchForce, built by hand."""
    system = openmm_system([a.element.symbol for a in topology.atoms()], cell)
    system.addForce(TorchForce(model, elements=topology, atoms=atoms, periodic=cell is not None))
    return system


def assert_same(actual, expected, rel):
    """Energies and forces equal to `rel` relative to the energy and the largest force."""
    (energy, forces), (ref_energy, ref_forces) = actual, expected
    assert energy == pytest.approx(ref_energy, rel=rel, abs=0.0)
    np.testing.assert_allclose(forces, ref_forces, rtol=0, atol=rel * np.abs(ref_forces).max())


@pytest.mark.parametrize("name, dtype", [("cuni", "float64"), ("cuni", "float32"), ("ho", "float64")])
def test_create_system_matches_torch_force(models, name, dtype):
    path = models[(name, dtype)]
    if name == "cuni":
        symbols, positions, cell = cuni_fcc(repeat=2, seed=1)
        topology = make_topology(symbols, cell)
    else:
        symbols, positions, cell = water_cluster(num_molecules=3)
        topology = make_topology(symbols, residue_size=3)
    system = MLPotential("equipot", modelPath=path).createSystem(topology)
    force = torch_force_of(system)
    assert force.usesPeriodicBoundaryConditions() == (cell is not None)
    assert force.getElements() == symbols and force.getParticles() == [] and force.getFile() == path
    assert system.getNumParticles() == len(symbols)
    assert system.getParticleMass(0) == app.Element.getBySymbol(symbols[0]).mass
    assert any(isinstance(f, openmm.CMMotionRemover) for f in system.getForces())
    if cell is not None:
        box = [v.value_in_unit(unit.nanometer) for v in system.getDefaultPeriodicBoxVectors()]
        assert np.allclose(box, cell / ANGSTROM_PER_NM)
    assert_same(evaluate(system, positions, cell=cell), evaluate(direct_system(path, topology, cell), positions,
                                                                   cell=cell), rel=0.0)


def test_create_mixed_system_matches_torch_force(mixed_case):
    model, topology, positions, cell, mm_system, ml_atoms, mm_tolerance = mixed_case
    potential = MLPotential("equipot", modelPath=model)
    mixed = potential.createMixedSystem(topology, mm_system, ml_atoms, forceGroup=ML_GROUP)
    interpolated = potential.createMixedSystem(topology, mm_system, ml_atoms, forceGroup=ML_GROUP, interpolate=True)

    ml = torch_force_of(mixed)
    assert ml.getParticles() == ml_atoms and ml.usesPeriodicBoundaryConditions() == (cell is not None)
    # the ML term is equipot's TorchForce on the ML atoms, and nothing else
    ml_energy, ml_forces = evaluate(mixed, positions, cell=cell, groups={ML_GROUP})
    assert_same((ml_energy, ml_forces), evaluate(direct_system(model, topology, cell, ml_atoms), positions, cell=cell),
                rel=0.0)
    assert ml_energy != 0.0 and np.all(np.delete(ml_forces, ml_atoms, axis=0) == 0.0)

    mixed_result = evaluate(mixed, positions, cell=cell)
    mm_result = evaluate(mm_system, positions, cell=cell)
    context = openmm.Context(interpolated, openmm.VerletIntegrator(0.001),
                             openmm.Platform.getPlatformByName("Reference"))
    if cell is not None:
        context.setPeriodicBoxVectors(*(openmm.Vec3(*row) / ANGSTROM_PER_NM for row in cell))
    context.setPositions(positions / ANGSTROM_PER_NM)
    assert context.getParameter("lambda_interpolate") == 1.0
    for lam, expected, tolerance in ((1.0, mixed_result, 1e-12), (0.0, mm_result, mm_tolerance)):
        context.setParameter("lambda_interpolate", lam)
        state = context.getState(getEnergy=True, getForces=True)
        actual = (state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
                  state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))
        assert_same(actual, expected, tolerance)
    assert abs(mixed_result[0] - mm_result[0]) > 1.0  # the two ends differ: the test can fail


def test_threads_and_properties(models):
    path = models[("cuni", "float64")]
    symbols, _, cell = cuni_fcc(repeat=2)
    system = MLPotential("equipot", modelPath=path, threads=1, properties={"useCUDAGraphs": True}).createSystem(
        make_topology(symbols, cell))
    properties = torch_force_of(system).getProperties()
    assert properties["threads"] == "1" and properties["useCUDAGraphs"] == "true"


class Harmonic(torch.nn.Module):
    def forward(self, positions):
        return (positions**2).sum()


def test_bad_model_and_arguments(models, tmp_path):
    symbols, _, cell = cuni_fcc(repeat=2)
    topology = make_topology(symbols, cell)
    with pytest.raises(ValueError, match="needs modelPath"):
        MLPotential("equipot")
    missing = str(tmp_path / "missing.pt")
    with pytest.raises(openmm.OpenMMException, match=f"'{missing}' does not exist"):
        MLPotential("equipot", modelPath=missing)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    with pytest.raises(openmm.OpenMMException, match=f"could not read model file '{broken}'"):
        MLPotential("equipot", modelPath=broken)
    foreign = str(tmp_path / "harmonic.pt")
    torch.jit.script(Harmonic()).save(foreign)
    with pytest.raises(ValueError, match=f"'{foreign}' is not an equipot model"):
        MLPotential("equipot", modelPath=foreign)
    with pytest.raises(TypeError, match="unknown argument.*model_path"):
        MLPotential("equipot", modelPath=models[("cuni", "float64")], model_path="x")
    potential = MLPotential("equipot", modelPath=models[("cuni", "float64")])
    with pytest.raises(TypeError, match="threads is an argument of MLPotential"):
        potential.createSystem(topology, threads=2)
    with pytest.raises(ValueError, match="ML region is empty"):
        potential.createMixedSystem(topology, openmm_system(symbols, cell), [])
    with pytest.raises(openmm.OpenMMException, match="element 'Cu' is not known to this model"):
        MLPotential("equipot", modelPath=models[("ho", "float64")]).createSystem(topology)
