"""Molecular dynamics in OpenMM with an exported equipot model, through equipot's C++
TorchForce (no Python in the MD loop).

    python examples/openmm/run_md.py runs/schnet_cuni/model.pt       # 500 steps, 300 K
    python examples/openmm/run_md.py runs/schnet_cuni/model.pt --steps 5000 --repeat 4 --dcd traj.dcd
    python examples/openmm/run_md.py model.pt --structure cluster.xyz --threads 2

The structure is --structure FILE (the first frame of any file ASE reads; periodic when
its cell is periodic in all three directions, otherwise a non-periodic system), or else
follows the model's elements: a model with H and O runs the first water cluster of
data/water_xtb/val.extxyz (gas phase, non-periodic, like the GFN2-xTB data there); any
other model runs a periodic random fcc alloy of its elements (CuNi for the SchNet fitted
to data/cuni_emt), with the lattice constant from ASE's reference data. Output: OpenMM's
StateDataReporter on stdout and, with --dcd, a trajectory.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

WATER_CLUSTERS = Path(__file__).resolve().parents[2] / "data" / "water_xtb" / "val.extxyz"


def fcc_alloy(elements, repeat, rng):
    """Symbols, positions (A) and cell (A) of a random fcc alloy, repeat^3 cubic cells."""
    from ase.data import atomic_numbers, reference_states

    lattice = [reference_states[atomic_numbers[e]] for e in elements]
    constants = [s["a"] for s in lattice if s and s.get("symmetry") == "fcc"]
    a = float(np.mean(constants)) if constants else 3.6
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) * a
    cells = np.array([[i, j, k] for i in range(repeat) for j in range(repeat) for k in range(repeat)]) * a
    positions = (cells[:, None, :] + basis[None, :, :]).reshape(-1, 3)
    symbols = list(rng.choice(elements, size=len(positions)))
    return symbols, positions, np.eye(3) * a * repeat


def read_structure(path):
    """Symbols, positions (A) and cell (A; None when not periodic in all three
    directions) of the first frame of an ASE-readable file. A periodic cell is rotated
    to the lower-triangular form OpenMM needs (positions with it)."""
    import ase.io

    atoms = ase.io.read(path, index=0)
    if not atoms.pbc.all():
        return atoms.get_chemical_symbols(), atoms.positions, None
    if abs(atoms.cell.volume) < 1e-6:
        raise ValueError(f"{path}: periodic in all three directions, but its cell has no volume")
    cell, rotation = atoms.cell.standard_form()  # cell = standard @ rotation
    return atoms.get_chemical_symbols(), atoms.positions @ rotation.T, np.array(cell)


def make_topology(symbols, cell):
    """One residue per atom; periodic box vectors from `cell` (A) unless it is None."""
    import openmm
    from openmm import app, unit
    from openmm.app.internal.unitcell import reducePeriodicBoxVectors

    topology = app.Topology()
    chain = topology.addChain()
    for symbol in symbols:
        topology.addAtom(symbol, app.Element.getBySymbol(symbol), topology.addResidue(symbol.upper(), chain))
    if cell is not None:
        # OpenMM wants a reduced triclinic box; the lattice (and so the system) is unchanged
        topology.setPeriodicBoxVectors(reducePeriodicBoxVectors([openmm.Vec3(*row) for row in cell] * unit.angstrom))
    return topology


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="model file written by export_model")
    parser.add_argument("--structure", default=None,
                        help="start from this structure file (any format ASE reads; its first frame)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--timestep", type=float, default=1.0, help="fs (default 1)")
    parser.add_argument("--temperature", type=float, default=300.0, help="K (default 300)")
    parser.add_argument("--friction", type=float, default=1.0, help="1/ps; 0 runs NVE (Verlet)")
    parser.add_argument("--repeat", type=int, default=3, help="fcc unit cells per box edge (alloy only)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own, one per core or OMP_NUM_THREADS)")
    parser.add_argument("--platform", default="CPU", choices=["CPU", "Reference"])
    parser.add_argument("--report", type=int, default=50, help="report interval in steps")
    parser.add_argument("--dcd", default=None, help="write a DCD trajectory to this file")
    parser.add_argument("--minimize", action="store_true", help="minimize the energy before MD")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import openmm
    import torch
    from openmm import app, unit

    from equipot.openmm import TorchForce, create_system

    probe = TorchForce(args.model)
    if not probe.isEquipotModel():
        parser.error(f"{args.model} is not an equipot model (it has no equipot metadata)")
    elements = probe.getModelElements()
    if args.structure:
        symbols, positions, cell = read_structure(args.structure)
        source = args.structure
    elif {"H", "O"} <= set(elements):
        symbols, positions, cell = read_structure(WATER_CLUSTERS)
        source = "first water cluster of data/water_xtb/val.extxyz"
    else:
        symbols, positions, cell = fcc_alloy(elements, args.repeat, np.random.default_rng(args.seed))
        source = "random fcc alloy"

    topology = make_topology(symbols, cell)
    # create_system makes the TorchForce periodic exactly when the topology has a box
    system = create_system(topology, args.model, threads=args.threads)
    timestep = args.timestep * unit.femtosecond
    if args.friction > 0:
        integrator = openmm.LangevinMiddleIntegrator(args.temperature * unit.kelvin, args.friction / unit.picosecond, timestep)
    else:
        integrator = openmm.VerletIntegrator(timestep)
    simulation = app.Simulation(topology, system, integrator, openmm.Platform.getPlatformByName(args.platform))
    simulation.context.setPositions(positions * unit.angstrom)
    if args.minimize:
        simulation.minimizeEnergy(maxIterations=200)
    simulation.context.setVelocitiesToTemperature(args.temperature * unit.kelvin, args.seed)

    if cell is None:
        box = "non-periodic"
    else:
        box = "periodic box " + " x ".join(f"{np.linalg.norm(row):.2f}" for row in cell) + " A"
    # torch's thread pool is process-wide; the Context applied --threads to it
    print(
        f"# {len(symbols)} atoms ({', '.join(f'{e}: {symbols.count(e)}' for e in sorted(set(symbols)))}; {source}), "
        f"{box}, model {args.model} (cutoff {probe.getModelCutoff():g} A, {probe.getModelDtype()}), "
        f"platform {args.platform}, {torch.get_num_threads()} torch thread(s)",
        flush=True,
    )
    simulation.reporters.append(
        app.StateDataReporter(
            sys.stdout, args.report, step=True, time=True, potentialEnergy=True, kineticEnergy=True,
            totalEnergy=True, temperature=True, speed=True, separator="\t",
        )
    )
    if args.dcd:
        simulation.reporters.append(app.DCDReporter(args.dcd, args.report))
    start = time.perf_counter()
    simulation.step(args.steps)
    elapsed = time.perf_counter() - start
    print(f"# {args.steps} steps in {elapsed:.2f} s ({1e3 * elapsed / max(args.steps, 1):.2f} ms/step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
