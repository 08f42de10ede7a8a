"""Shorthands for openmm-ml with an equipot model:

    create_system(topology, "model.pt", threads=2)
        == MLPotential("equipot", modelPath="model.pt", threads=2).createSystem(topology)
    create_mixed_system(topology, mm_system, ml_atoms, "model.pt", interpolate=True)
        == MLPotential("equipot", modelPath="model.pt").createMixedSystem(topology, mm_system, ml_atoms,
                                                                          interpolate=True)

They build nothing of their own: openmm-ml's createMixedSystem has the complete
embedding (link atoms across bonds cut by the ML region, PME-consistent ML-ML
exclusions and interpolation), which an equipot copy would only trail behind.
"""

from typing import Iterable, Optional


def create_system(topology, model, removeCMMotion: bool = True, properties: Optional[dict] = None,
                  threads: Optional[int] = None):
    """System whose potential energy is the equipot model file `model`: masses from the
    topology's elements, periodic when the topology has a box (openmm-ml's createSystem).
    `threads`: torch's CPU thread count (default torch's own)."""
    return _potential(model, properties, threads).createSystem(topology, removeCMMotion=removeCMMotion)


def create_mixed_system(topology, mm_system, ml_atoms: Iterable[int], model, interpolate: bool = False,
                        removeConstraints: bool = True, properties: Optional[dict] = None,
                        threads: Optional[int] = None):
    """Copy of `mm_system` in which the equipot model file `model` describes the atoms
    `ml_atoms` (openmm-ml's createMixedSystem, mechanical embedding): MM terms inside
    the ML region are removed, ML-MM interactions stay with the force field.
    interpolate=True adds the global parameter lambda_interpolate (1: ML/MM, 0: MM)."""
    potential = _potential(model, properties, threads)
    # checked here because openmm-ml fails on these with an OpenMM assertion, or not at all
    from .mlpotential import check_particle_count

    num_particles = mm_system.getNumParticles()
    check_particle_count(topology, num_particles, "MM system")
    ml_atoms = [int(a) for a in ml_atoms]
    outside = [a for a in ml_atoms if not 0 <= a < num_particles]
    if outside:
        raise ValueError(f"ml_atoms must be particle indices in [0, {num_particles}); got {outside[0]}")
    return potential.createMixedSystem(topology, mm_system, ml_atoms, removeConstraints=removeConstraints,
                                       interpolate=interpolate)


def _potential(model, properties, threads):
    try:
        from openmmml import MLPotential
    except ImportError as error:
        raise ImportError(
            "create_system/create_mixed_system run through openmm-ml: pip install openmmml (or 'equipot[openmm]')"
        ) from error
    if "equipot" not in MLPotential._implFactories:
        raise ImportError(
            "openmm-ml does not know the 'equipot' potential: equipot's entry point (group openmmml.potentials) "
            "is not installed; reinstall equipot"
        )
    return MLPotential("equipot", modelPath=model, properties=properties, threads=threads)
