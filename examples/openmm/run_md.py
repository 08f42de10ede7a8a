"""Molecular dynamics in OpenMM with an exported equipot model, through equipot's C++
TorchForce (no Python in the MD loop).

    python examples/openmm/run_md.py model.pt                  # 500 steps, 300 K
    python examples/openmm/run_md.py model.pt --steps 5000 --repeat 4 --dcd traj.dcd

The structure follows the model's elements: a model with H and O runs a periodic box
of water molecules; any other model runs a random fcc alloy of its elements (CuNi for
the SchNet fitted to data/cuni_emt), with the lattice constant from ASE's reference
data. Output: OpenMM's StateDataReporter on stdout and, with --dcd, a trajectory.
"""

import argparse
import sys
import time

import numpy as np


def fcc_alloy(elements, repeat, rng):
    from ase.data import atomic_numbers, reference_states

    lattice = [reference_states[atomic_numbers[e]] for e in elements]
    constants = [s["a"] for s in lattice if s and s.get("symmetry") == "fcc"]
    a = float(np.mean(constants)) if constants else 3.6
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) * a
    cells = np.array([[i, j, k] for i in range(repeat) for j in range(repeat) for k in range(repeat)]) * a
    positions = (cells[:, None, :] + basis[None, :, :]).reshape(-1, 3)
    symbols = list(rng.choice(elements, size=len(positions)))
    return symbols, positions, np.eye(3) * a * repeat, 1


def water_box(repeat, rng):
    """repeat^3 water molecules on a cubic grid at about 1 g/cm^3, random orientations."""
    spacing = 3.1  # Angstrom
    local = np.array([[0.0, 0.0, 0.0], [0.9572, 0.0, 0.0], [-0.2400, 0.9266, 0.0]])
    symbols, positions = [], []
    for i in range(repeat):
        for j in range(repeat):
            for k in range(repeat):
                q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
                symbols += ["O", "H", "H"]
                positions += list(local @ q.T + (np.array([i, j, k]) + 0.5) * spacing)
    return symbols, np.array(positions), np.eye(3) * spacing * repeat, 3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="model file written by export_model")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--timestep", type=float, default=1.0, help="fs (default 1)")
    parser.add_argument("--temperature", type=float, default=300.0, help="K (default 300)")
    parser.add_argument("--friction", type=float, default=1.0, help="1/ps; 0 runs NVE (Verlet)")
    parser.add_argument("--repeat", type=int, default=3, help="unit cells (fcc) or molecules (water) per box edge")
    parser.add_argument("--platform", default="CPU", choices=["CPU", "Reference"])
    parser.add_argument("--report", type=int, default=50, help="report interval in steps")
    parser.add_argument("--dcd", default=None, help="write a DCD trajectory to this file")
    parser.add_argument("--minimize", action="store_true", help="minimize the energy before MD")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import openmm
    from openmm import app, unit

    from equipot.openmm import TorchForce, create_system

    probe = TorchForce(args.model)
    if not probe.isEquipotModel():
        parser.error(f"{args.model} is not an equipot model (it has no equipot metadata)")
    elements = probe.getModelElements()
    rng = np.random.default_rng(args.seed)
    if {"H", "O"} <= set(elements):
        symbols, positions, cell, per_residue = water_box(args.repeat, rng)
    else:
        symbols, positions, cell, per_residue = fcc_alloy(elements, args.repeat, rng)

    topology = app.Topology()
    chain = topology.addChain()
    for index, symbol in enumerate(symbols):
        if index % per_residue == 0:
            residue = topology.addResidue("HOH" if per_residue == 3 else symbol.upper(), chain)
        topology.addAtom(symbol, app.Element.getBySymbol(symbol), residue)
    topology.setPeriodicBoxVectors([openmm.Vec3(*row) * 0.1 for row in cell] * unit.nanometer)

    system = create_system(topology, args.model)
    timestep = args.timestep * unit.femtosecond
    if args.friction > 0:
        integrator = openmm.LangevinMiddleIntegrator(args.temperature * unit.kelvin, args.friction / unit.picosecond, timestep)
    else:
        integrator = openmm.VerletIntegrator(timestep)
    simulation = app.Simulation(topology, system, integrator, openmm.Platform.getPlatformByName(args.platform))
    simulation.context.setPositions(positions * 0.1 * unit.nanometer)
    if args.minimize:
        simulation.minimizeEnergy(maxIterations=200)
    simulation.context.setVelocitiesToTemperature(args.temperature * unit.kelvin, args.seed)

    print(
        f"# {len(symbols)} atoms ({', '.join(f'{e}: {symbols.count(e)}' for e in elements)}), "
        f"box {cell[0, 0]:.2f} A, model {args.model} (cutoff {probe.getModelCutoff():g} A, {probe.getModelDtype()}), "
        f"platform {args.platform}",
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
