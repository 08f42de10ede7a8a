"""openmm-ml-style helpers: a System driven entirely by an equipot model, and a mixed
ML/MM System (mechanical embedding) in which the model replaces the MM terms inside
the ML region."""

import itertools
import math
import warnings
from typing import Iterable, List, Optional

import openmm

from ._force import TorchForce, _topology_elements

# OpenMM's 1/(4 pi eps0) in kJ mol^-1 nm e^-2 (ONE_4PI_EPS0 in its reference code).
ONE_4PI_EPS0 = 138.935457644382


def create_system(topology, model, removeCMMotion: bool = True, properties: Optional[dict] = None,
                  threads: Optional[int] = None):
    """System whose potential energy is the equipot model `model` (a file path).
    `threads`: torch's CPU thread count (TorchForce's "threads" property; default
    torch's own, one per core or OMP_NUM_THREADS).

    Masses come from the topology's elements; the force is periodic when the
    topology has periodic box vectors (which become the System's default box).
    Like openmm-ml's MLPotential.createSystem(topology).
    """
    system = openmm.System()
    box = topology.getPeriodicBoxVectors()
    if box is not None:
        system.setDefaultPeriodicBoxVectors(*box)
    for index, atom in enumerate(topology.atoms()):
        if atom.element is None:
            raise ValueError(
                f"atom {index} ({atom.name} in residue {atom.residue.name}) has no element; an equipot model "
                "needs the element of every atom"
            )
        system.addParticle(atom.element.mass)
    force = TorchForce(model, properties, elements=topology, threads=threads)
    if not force.isEquipotModel():
        raise ValueError(f"'{model}' is not an equipot model; create_system needs one (its elements and cutoff)")
    system.addForce(force)
    if removeCMMotion:
        system.addForce(openmm.CMMotionRemover())
    return system


def create_mixed_system(
    topology,
    mm_system,
    ml_atoms: Iterable[int],
    model,
    interpolate: bool = False,
    removeConstraints: bool = True,
    properties: Optional[dict] = None,
    threads: Optional[int] = None,
):
    """Copy of `mm_system` in which the equipot model `model` describes the atoms
    `ml_atoms` (mechanical embedding, like openmm-ml's createMixedSystem).

    Bonds, angles and torsions with all atoms in the ML region are removed, nonbonded
    interactions between two ML atoms are excluded, and (removeConstraints) so are
    constraints between ML atoms. ML-MM nonbonded interactions stay with the MM force
    field. The model sees only the ML atoms (periodic when the MM system is).

    interpolate=True adds a global parameter `lambda_interpolate` (default 1): the
    energy is lambda*E_ML + (1 - lambda)*E_MM(ML region internal terms) + the rest of
    the MM system, so lambda = 1 gives the ML/MM system and lambda = 0 the MM system,
    exactly when the NonbondedForce uses NoCutoff; with a cutoff or Ewald/PME method the
    restored ML-ML nonbonded pairs are plain Coulomb + LJ without cutoff (a warning says so).
    """
    num_particles = mm_system.getNumParticles()
    ml = sorted({int(a) for a in ml_atoms})
    if not ml:
        raise ValueError("ml_atoms is empty")
    if ml[0] < 0 or ml[-1] >= num_particles:
        raise ValueError(f"ml_atoms must be particle indices in [0, {num_particles}), got {ml[0]}..{ml[-1]}")
    if topology.getNumAtoms() != num_particles:
        raise ValueError(
            f"the topology has {topology.getNumAtoms()} atoms but the MM system has {num_particles} particles"
        )
    inside = set(ml)
    system = openmm.XmlSerializer.clone(mm_system)
    internal: List[openmm.Force] = []  # the removed MM terms, for interpolation

    replaced = []
    for index in range(system.getNumForces()):
        force = system.getForce(index)
        removed = _remove_internal_terms(force, inside)
        if isinstance(removed, tuple):  # (replacement force, internal terms)
            replaced.append((index, removed[0]))
            removed = removed[1]
        if removed is not None:
            internal.append(removed)
    for index, replacement in reversed(replaced):
        system.removeForce(index)
    for _, replacement in replaced:
        system.addForce(replacement)

    if removeConstraints:
        for index in reversed(range(system.getNumConstraints())):
            i, j, _ = system.getConstraintParameters(index)
            if i in inside and j in inside:
                system.removeConstraint(index)

    periodic = mm_system.usesPeriodicBoundaryConditions()
    force = TorchForce(model, properties, elements=_topology_elements(topology, ml), atoms=ml, periodic=periodic,
                       threads=threads)
    if not force.isEquipotModel():
        raise ValueError(f"'{model}' is not an equipot model; create_mixed_system needs one")
    if not interpolate:
        system.addForce(force)
        return system
    if any(isinstance(f, openmm.NonbondedForce) and f.getNonbondedMethod() != openmm.NonbondedForce.NoCutoff
           for f in system.getForces()):
        warnings.warn(
            "create_mixed_system: the ML-ML nonbonded pairs restored at lambda_interpolate < 1 are plain "
            "Coulomb + LJ without the NonbondedForce's cutoff or Ewald/PME",
            stacklevel=2,
        )
    names = [f"mm{k}" for k in range(len(internal))]
    mm_energy = "+".join(names) if names else "0"
    cv = openmm.CustomCVForce(f"lambda_interpolate*ml + (1-lambda_interpolate)*({mm_energy})")
    cv.addGlobalParameter("lambda_interpolate", 1.0)
    cv.addCollectiveVariable("ml", force)
    for name, term in zip(names, internal):
        cv.addCollectiveVariable(name, term)
    system.addForce(cv)
    return system


def _remove_internal_terms(force, inside):
    """Removes from `force` (in place, or by returning a replacement) the terms whose
    atoms all lie in `inside`. Returns a Force holding the removed terms (or None), or
    (replacement, removed terms) when the force had to be rebuilt."""
    mm = openmm
    periodic = force.usesPeriodicBoundaryConditions()
    if isinstance(force, mm.HarmonicBondForce):
        removed = mm.HarmonicBondForce()
        for b in range(force.getNumBonds()):
            i, j, length, k = force.getBondParameters(b)
            if i in inside and j in inside:
                removed.addBond(i, j, length, k)
                force.setBondParameters(b, i, j, length, 0.0)
    elif isinstance(force, mm.HarmonicAngleForce):
        removed = mm.HarmonicAngleForce()
        for a in range(force.getNumAngles()):
            i, j, k, theta, kk = force.getAngleParameters(a)
            if {i, j, k} <= inside:
                removed.addAngle(i, j, k, theta, kk)
                force.setAngleParameters(a, i, j, k, theta, 0.0)
    elif isinstance(force, mm.PeriodicTorsionForce):
        removed = mm.PeriodicTorsionForce()
        for t in range(force.getNumTorsions()):
            i, j, k, l, n, phase, kk = force.getTorsionParameters(t)
            if {i, j, k, l} <= inside:
                removed.addTorsion(i, j, k, l, n, phase, kk)
                force.setTorsionParameters(t, i, j, k, l, n, phase, 0.0)
    elif isinstance(force, mm.RBTorsionForce):
        removed = mm.RBTorsionForce()
        for t in range(force.getNumTorsions()):
            i, j, k, l, *c = force.getTorsionParameters(t)
            if {i, j, k, l} <= inside:
                removed.addTorsion(i, j, k, l, *c)
                force.setTorsionParameters(t, i, j, k, l, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    elif isinstance(force, mm.CMAPTorsionForce):
        return _split_cmap(force, inside)
    elif isinstance(force, (mm.CustomBondForce, mm.CustomAngleForce, mm.CustomTorsionForce)):
        return _split_custom_bonded(force, inside)
    elif isinstance(force, mm.NonbondedForce):
        return _exclude_nonbonded(force, inside)
    elif isinstance(force, mm.CustomNonbondedForce):
        excluded = {tuple(sorted(force.getExclusionParticles(e))) for e in range(force.getNumExclusions())}
        for i, j in itertools.combinations(sorted(inside), 2):
            if (i, j) not in excluded:
                force.addExclusion(i, j)
        warnings.warn(
            "create_mixed_system: CustomNonbondedForce interactions inside the ML region are excluded; "
            "with interpolate=True they are not restored at lambda_interpolate=0",
            stacklevel=3,
        )
        return None
    elif isinstance(force, _UNHANDLED_BONDED):
        warnings.warn(
            f"create_mixed_system: {type(force).__name__} is left unchanged; remove its terms inside the ML "
            "region yourself if it has any",
            stacklevel=3,
        )
        return None
    else:
        return None
    removed.setUsesPeriodicBoundaryConditions(periodic)
    return removed


_UNHANDLED_BONDED = (openmm.CustomCompoundBondForce, openmm.CustomCentroidBondForce, openmm.CustomManyParticleForce)


def _copy_custom_definition(source, target):
    for p in range(source.getNumGlobalParameters()):
        target.addGlobalParameter(source.getGlobalParameterName(p), source.getGlobalParameterDefaultValue(p))
    for p in range(source.getNumEnergyParameterDerivatives()):
        target.addEnergyParameterDerivative(source.getEnergyParameterDerivativeName(p))
    target.setUsesPeriodicBoundaryConditions(source.usesPeriodicBoundaryConditions())
    target.setForceGroup(source.getForceGroup())
    target.setName(source.getName())


def _split_custom_bonded(force, inside):
    mm = openmm
    if isinstance(force, mm.CustomBondForce):
        kind, count, get, add, names = mm.CustomBondForce, force.getNumBonds(), force.getBondParameters, "addBond", force.getNumPerBondParameters
        per_name = force.getPerBondParameterName
    elif isinstance(force, mm.CustomAngleForce):
        kind, count, get, add, names = mm.CustomAngleForce, force.getNumAngles(), force.getAngleParameters, "addAngle", force.getNumPerAngleParameters
        per_name = force.getPerAngleParameterName
    else:
        kind, count, get, add, names = mm.CustomTorsionForce, force.getNumTorsions(), force.getTorsionParameters, "addTorsion", force.getNumPerTorsionParameters
        per_name = force.getPerTorsionParameterName
    kept, removed = kind(force.getEnergyFunction()), kind(force.getEnergyFunction())
    for target in (kept, removed):
        _copy_custom_definition(force, target)
        for p in range(names()):
            getattr(target, "addPer" + add[3:] + "Parameter")(per_name(p))
    for t in range(count):
        *atoms, parameters = get(t)
        target = removed if set(atoms) <= inside else kept
        getattr(target, add)(*atoms, parameters)
    return kept, removed


def _split_cmap(force, inside):
    kept, removed = openmm.CMAPTorsionForce(), openmm.CMAPTorsionForce()
    for target in (kept, removed):
        for m in range(force.getNumMaps()):
            size, energy = force.getMapParameters(m)
            target.addMap(size, energy)
        target.setUsesPeriodicBoundaryConditions(force.usesPeriodicBoundaryConditions())
        target.setForceGroup(force.getForceGroup())
    for t in range(force.getNumTorsions()):
        m, *atoms = force.getTorsionParameters(t)
        target = removed if set(atoms) <= inside else kept
        target.addTorsion(m, *atoms)
    return kept, removed


def _exclude_nonbonded(force, inside):
    """Zeroes every nonbonded interaction between two ML atoms (as exceptions) and
    returns a CustomBondForce with the interactions that were removed."""
    removed = openmm.CustomBondForce(
        f"{ONE_4PI_EPS0}*chargeProd/r + 4*epsilon*((sigma/r)^12 - (sigma/r)^6)"
    )
    for name in ("chargeProd", "sigma", "epsilon"):
        removed.addPerBondParameter(name)
    removed.setUsesPeriodicBoundaryConditions(force.usesPeriodicBoundaryConditions())
    exceptions = {}
    for e in range(force.getNumExceptions()):
        i, j, *_ = force.getExceptionParameters(e)
        exceptions[(min(i, j), max(i, j))] = e
    for i, j in itertools.combinations(sorted(inside), 2):
        if (i, j) in exceptions:
            e = exceptions[(i, j)]
            _, _, q, sigma, epsilon = force.getExceptionParameters(e)
            q, sigma, epsilon = _plain(q), _plain(sigma), _plain(epsilon)
            force.setExceptionParameters(e, i, j, 0.0, 1.0, 0.0)
        else:
            qi, si, ei = (_plain(x) for x in force.getParticleParameters(i))
            qj, sj, ej = (_plain(x) for x in force.getParticleParameters(j))
            q, sigma, epsilon = qi * qj, 0.5 * (si + sj), math.sqrt(ei * ej)
            force.addException(i, j, 0.0, 1.0, 0.0)
        if q != 0.0 or epsilon != 0.0:
            removed.addBond(i, j, [q, sigma, epsilon])
    return removed


def _plain(value):
    """A number without OpenMM units (values come back in OpenMM's default units)."""
    return value.value_in_unit_system(openmm.unit.md_unit_system) if openmm.unit.is_quantity(value) else float(value)
