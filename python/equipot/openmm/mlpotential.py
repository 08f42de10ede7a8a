"""equipot models as an openmm-ml potential, through equipot's C++ TorchForce.

    from openmmml import MLPotential

    potential = MLPotential("equipot", modelPath="model.pt")          # threads=N, properties={...}
    system = potential.createSystem(topology)
    mixed = potential.createMixedSystem(topology, mm_system, ml_atoms, interpolate=True)

openmm-ml finds the potential through equipot's entry point (equipot.openmm_ml, which
imports this module only when a potential is created). openmm-ml's own potentials run
their model in an openmm.PythonForce, called from Python every step; this one adds a
TorchForce, so the MD loop runs no Python. Mixed systems use openmm-ml's embeddings
(mechanical by default, with its link atoms and lambda_interpolate).
"""

import os

from openmmml.mlpotential import MLPotentialImpl

from ._force import TorchForce


def check_particle_count(topology, num_particles, system_name):
    if topology.getNumAtoms() != num_particles:
        raise ValueError(
            f"the topology has {topology.getNumAtoms()} atoms but the {system_name} has {num_particles} particles"
        )


class EquipotPotentialImpl(MLPotentialImpl):
    """MLPotential("equipot", modelPath, threads=None, properties=None)

    modelPath: a model file written by equipot's export_model.
    threads: torch's intra-op thread count (the TorchForce property "threads").
    properties: further TorchForce properties ("useCUDAGraphs", ...).

    The model sees the chosen atoms (all of them in createSystem), with their elements
    from the Topology, and is periodic exactly when the Topology has periodic box
    vectors. The model file is read here, so a missing, unreadable or non-equipot file
    fails when the MLPotential is created.
    """

    def __init__(self, name, modelPath=None, threads=None, properties=None, **unknown):
        if unknown:
            raise TypeError(
                f"MLPotential('{name}'): unknown argument(s) {', '.join(sorted(unknown))}; it takes modelPath, "
                "threads and properties"
            )
        if modelPath is None:
            raise ValueError(f"MLPotential('{name}') needs modelPath=..., a model file written by export_model")
        self.name = name
        # absolute, since addForces reads the file again, maybe after a change of directory
        self.modelPath = os.path.abspath(os.fspath(modelPath))
        self.threads = threads
        self.properties = dict(properties or {})
        probe = self._force()  # TorchForce's errors name the file
        if not probe.isEquipotModel():
            raise ValueError(
                f"MLPotential('{name}'): '{modelPath}' is not an equipot model (it has no equipot metadata: "
                "elements and cutoff); export it with export_model, or add it to a System with "
                "equipot.openmm.TorchForce directly"
            )

    def _force(self, **kwargs):
        return TorchForce(self.modelPath, self.properties, threads=self.threads, **kwargs)

    def addForces(self, topology, system, atoms, forceGroup, **args):
        # openmm-ml hands every createSystem/createMixedSystem argument to addForces,
        # those meant for the embedding too (mlLongRange, linkAtomDistances): only ours
        # in the wrong place are an error.
        for key in ("modelPath", "threads", "properties"):
            if key in args:
                raise TypeError(
                    f"{key} is an argument of MLPotential('{self.name}', ...), not of createSystem/createMixedSystem"
                )
        periodic = topology.getPeriodicBoxVectors() is not None
        if system.usesPeriodicBoundaryConditions() and not periodic:
            raise ValueError(
                "the System is periodic but the Topology has no periodic box vectors; set them "
                "(topology.setPeriodicBoxVectors) so that the equipot model is periodic too"
            )
        if system.getNumParticles() > 0:  # openmm-ml's interpolation builds the ML forces in an empty System
            check_particle_count(topology, system.getNumParticles(), "System")
        if atoms is not None:
            atoms = [int(a) for a in atoms]
            if not atoms:  # TorchForce would read an empty particle list as "all particles"
                raise ValueError("the ML region is empty: give the indices of the atoms the equipot model describes")
        force = self._force(elements=topology, atoms=atoms, periodic=periodic)
        force.setForceGroup(forceGroup)
        system.addForce(force)

    def getMLLongRange(self):
        # equipot models are local: nothing beyond the model's cutoff (openmm-ml's
        # mechanical embedding needs to know this for periodic systems)
        return False
