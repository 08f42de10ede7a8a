"""Speed of equipot's C++ OpenMM TorchForce.

(a) MD step time with TorchForce divided by the core's own energy + forces time
    (Model.evaluate_structure: neighbor list + model + gradients) on the same
    configuration. The plugin's overhead on top of the model is (a) - 1.
(b) MD step time with TorchForce against openmm.PythonForce baselines on the same
    model: "PyF+torch" runs the exported model with torch from Python each step
    (neighbor list from equipot's C++ core, forward + autograd in torch; the strongest
    Python baseline), "PyF+core" calls equipot's core from Python (the least a Python
    callback can cost), "PyF+tNL" does everything in torch, neighbor list included
    (all pairs over periodic images, the simple way to write it).
(c) openmm-ml: "OML" is MLPotential("equipot", modelPath=...).createSystem(topology),
    i.e. equipot's C++ TorchForce; "OML-PyF" is the same model the way openmm-ml's own
    potentials run (openmm-ml >= 1.6: an openmm.PythonForce added by the potential's
    addForces, here calling equipot's core from Python, as PyF+core), registered as an
    openmm-ml potential and built by the same createSystem. ratio = OML-PyF / OML.

    python benchmarks/bench_openmm.py --model model.pt           # a CuNi-like model
    python benchmarks/bench_openmm.py                            # random-weight SchNet
    python benchmarks/bench_openmm.py --format aoti              # the same, TorchForce running its compiled package

Timings are the minimum over --repeats blocks of --steps steps, the blocks of all
variants interleaved (the machine may be shared); "(med)" is step/core from the
medians. Every variant is warmed up first. Speedup = PythonForce step / TorchForce step.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from equipot._core import ANGSTROM_PER_NM, KJ_PER_MOL_PER_EV

FORCE_TO_OPENMM = KJ_PER_MOL_PER_EV * ANGSTROM_PER_NM  # eV/A -> kJ/mol/nm
PYTHON_FORCE_POTENTIAL = "equipot-pythonforce"  # the openmm-ml potential of (c)


def fcc_box(elements, repeat, a=3.6, seed=0):
    rng = np.random.default_rng(seed)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) * a
    cells = np.array([[i, j, k] for i in range(repeat) for j in range(repeat) for k in range(repeat)]) * a
    positions = (cells[:, None, :] + basis[None, :, :]).reshape(-1, 3) + rng.normal(scale=0.05, size=(4 * repeat**3, 3))
    return list(rng.choice(elements, size=len(positions))), positions, np.eye(3) * a * repeat


def random_model(folder, elements, args):
    """Exports a random-weight SchNet as TorchScript, and with --format aoti also as a
    compiled package; returns (the file TorchForce runs, the TorchScript file that the
    Python baselines run)."""
    import torch

    from equipot.export import export_model
    from equipot.models.schnet import SchNet

    torch.manual_seed(0)
    model = SchNet(elements, cutoff=args.cutoff, num_features=args.features, num_filters=args.features,
                   num_interactions=args.interactions, num_basis=20)
    torchscript = os.path.join(folder, "schnet_cuni.pt")
    export_model(model, torchscript, args.dtype)
    if args.format == "torchscript":
        return torchscript, torchscript
    package = os.path.join(folder, "schnet_cuni.pt2")
    export_model(model, package, args.dtype, file_format="aoti")
    return package, torchscript


def make_context(system, positions, cell, args):
    import openmm
    from openmm import unit

    integrator = openmm.VerletIntegrator(0.5 * unit.femtosecond)
    # The CPU platform's own thread pool costs ~20 us per step with 1 thread and ~75 us
    # with 2 on a 2-core machine (measured on an almost empty System): --platform-threads.
    properties = {"Threads": str(args.platform_threads)} if args.platform == "CPU" and args.platform_threads else {}
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(args.platform), properties)
    context.setPeriodicBoxVectors(*[openmm.Vec3(*row) / ANGSTROM_PER_NM for row in cell])
    context.setPositions(positions / ANGSTROM_PER_NM)
    context.setVelocitiesToTemperature(300 * unit.kelvin, 1)
    integrator.step(args.warmup)
    return context, integrator


CLOCK = time.perf_counter


def time_steps(integrator, steps):
    start = CLOCK()
    integrator.step(steps)
    return (CLOCK() - start) / steps


def time_core(model, positions, cell, species, steps):
    start = CLOCK()
    for _ in range(steps):
        model.evaluate_structure(positions, cell, [True] * 3, species)
    return (CLOCK() - start) / steps


def python_force_torch(path, core_model, species, cutoff):
    """PythonForce computation running the TorchScript model from Python."""
    import torch
    from openmm import unit

    from equipot._core import neighbor_list

    module = torch.jit.load(path)
    dtype = torch.float64 if core_model.dtype == "float64" else torch.float32
    species_t = torch.from_numpy(np.asarray(species))

    def compute(state):
        positions = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer) * ANGSTROM_PER_NM
        box = np.asarray(state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer)) * ANGSTROM_PER_NM
        edge_index, shifts = neighbor_list(positions, box, [True] * 3, cutoff)
        pos = torch.from_numpy(positions).requires_grad_(True)
        edges = torch.from_numpy(edge_index)
        vectors = pos[edges[1]] - pos[edges[0]] + torch.from_numpy(shifts).double() @ torch.from_numpy(box)
        energy = module(species_t, edges, vectors.to(dtype)).double().sum()
        (gradient,) = torch.autograd.grad(energy, pos)
        return energy.item() * KJ_PER_MOL_PER_EV, -gradient.numpy() * FORCE_TO_OPENMM

    return compute


def python_force_torch_nl(path, core_model, species, cutoff):
    """PythonForce computation doing everything in torch, neighbor list included
    (all pairs over the periodic images within reach: the simple way to write it)."""
    import torch
    from openmm import unit

    module = torch.jit.load(path)
    dtype = torch.float64 if core_model.dtype == "float64" else torch.float32
    species_t = torch.from_numpy(np.asarray(species))

    def compute(state):
        positions = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer) * ANGSTROM_PER_NM
        box = np.asarray(state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer))
        box = torch.from_numpy(box * ANGSTROM_PER_NM)
        pos = torch.from_numpy(positions).requires_grad_(True)
        heights = torch.abs(torch.det(box)) / torch.linalg.norm(torch.cross(box[[1, 2, 0]], box[[2, 0, 1]], dim=1), dim=1)
        reach = [int(np.ceil(cutoff / float(h))) for h in heights]
        ranges = [torch.arange(-r, r + 1, dtype=torch.float64) for r in reach]
        images = torch.cartesian_prod(*ranges) @ box  # [S, 3]
        n = pos.shape[0]
        with torch.no_grad():
            d = pos[None, :, None, :] - pos[:, None, None, :] + images[None, None, :, :]  # [i, j, S, 3]
            mask = (d.norm(dim=-1) < cutoff) & (d.norm(dim=-1) > 0)
        i, j, s = mask.nonzero(as_tuple=True)
        vectors = pos[j] - pos[i] + images[s]
        energy = module(species_t, torch.stack([i, j]), vectors.to(dtype)).double().sum()
        (gradient,) = torch.autograd.grad(energy, pos)
        return energy.item() * KJ_PER_MOL_PER_EV, -gradient.numpy() * FORCE_TO_OPENMM

    return compute


def python_force_core(core_model, species):
    """PythonForce computation calling equipot's C++ core (no torch in Python)."""
    from openmm import unit

    def compute(state):
        positions = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer) * ANGSTROM_PER_NM
        box = np.asarray(state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.nanometer)) * ANGSTROM_PER_NM
        result = core_model.evaluate_structure(positions, box, [True] * 3, species)
        return result["energy"] * KJ_PER_MOL_PER_EV, result["forces"] * FORCE_TO_OPENMM

    return compute


def register_openmm_ml_python_force():
    """Registers PYTHON_FORCE_POTENTIAL with openmm-ml: a potential built the way
    openmm-ml's own are (addForces adds an openmm.PythonForce), whose callback is
    python_force_core."""
    import openmm
    from openmmml.mlpotential import MLPotential, MLPotentialImpl

    from equipot._core import Model

    class PythonForceImpl(MLPotentialImpl):
        def __init__(self, modelPath):
            self.model = Model(modelPath)

        def addForces(self, topology, system, atoms, forceGroup, **args):
            assert atoms is None and topology.getPeriodicBoxVectors() is not None  # what (c) builds
            species = self.model.species([atom.element.symbol for atom in topology.atoms()])
            force = openmm.PythonForce(python_force_core(self.model, species))
            force.setForceGroup(forceGroup)
            force.setUsesPeriodicBoundaryConditions(True)
            system.addForce(force)

    class Factory:
        def createImpl(self, name, modelPath):
            return PythonForceImpl(modelPath)

    MLPotential.registerImplFactory(PYTHON_FORCE_POTENTIAL, Factory())


def periodic_topology(symbols, cell):
    import openmm
    from openmm import app, unit

    topology = app.Topology()
    residue = topology.addResidue("BOX", topology.addChain())
    for symbol in symbols:
        topology.addAtom(symbol, app.Element.getBySymbol(symbol), residue)
    topology.setPeriodicBoxVectors([openmm.Vec3(*row) / ANGSTROM_PER_NM for row in cell] * unit.nanometer)
    return topology


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="exported equipot model (default: a random-weight SchNet for Cu, Ni)")
    parser.add_argument("--repeat", type=int, nargs="+", default=[2, 3, 4, 5], help="fcc cells per edge (4 n^3 atoms)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--platform", default="CPU", choices=["CPU", "Reference"])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--platform-threads", type=int, default=None, help="CPU platform threads (default: OpenMM's)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="random model only")
    parser.add_argument("--cutoff", type=float, default=4.0, help="random model only (A)")
    parser.add_argument("--features", type=int, default=32, help="random model only")
    parser.add_argument("--interactions", type=int, default=2, help="random model only")
    parser.add_argument("--format", choices=["torchscript", "aoti"], default="torchscript",
                        help="random model only: the file TorchForce (and PyF+core, OML) runs; the PyF+torch and PyF+tNL "
                        "baselines run the same model's TorchScript file from Python either way")
    parser.add_argument("--no-python-force", action="store_true", help="skip the PythonForce baselines (b)")
    parser.add_argument("--no-openmm-ml", action="store_true", help="skip the openmm-ml comparison (c)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: elapsed time; cpu: process CPU time (robust on a shared machine with "
                             "--threads 1, since time spent waiting for a core is not counted)")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.perf_counter if args.clock == "wall" else time.process_time

    import openmm
    import openmm.app  # noqa: F401
    import torch

    from equipot._core import Model, neighbor_list
    from equipot.openmm import TorchForce

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.no_openmm_ml:
        from openmmml import MLPotential

        register_openmm_ml_python_force()
    if args.model is not None and args.format != "torchscript":
        parser.error("--format applies to the random model; a given --model is run as it is")
    path, torchscript_path = (args.model, args.model) if args.model else random_model(tempfile.mkdtemp(),
                                                                                       ["Cu", "Ni"], args)
    core_model = Model(path)
    elements = core_model.elements
    print(f"# model {args.model or 'random SchNet'}: {core_model.architecture}, elements {' '.join(elements)}, "
          f"cutoff {core_model.cutoff:g} A, {core_model.num_layers} layers, {core_model.dtype}")
    print(f"# openmm {openmm.__version__}, torch {torch.__version__}, {torch.get_num_threads()} torch thread(s), "
          f"platform {args.platform}, {os.cpu_count()} CPU(s); {args.clock} clock, min over {args.repeats} x {args.steps} steps")
    header = f"{'atoms':>6} {'edges':>7} {'step ms':>9} {'core ms':>9} {'step/core':>9} {'(med)':>7}"
    if not args.no_python_force:
        header += f" {'PyF+torch ms':>12} {'speedup':>8} {'PyF+core ms':>12} {'speedup':>8} {'PyF+tNL ms':>12} {'speedup':>8}"
    if not args.no_openmm_ml:
        header += f" {'OML ms':>9} {'OML-PyF ms':>10} {'ratio':>6}"
    print(header)

    for repeat in args.repeat:
        symbols, positions, cell = fcc_box(elements, repeat)
        species = core_model.species(symbols)

        def new_system(force):
            system = openmm.System()
            for symbol in symbols:
                system.addParticle(openmm.app.Element.getBySymbol(symbol).mass)
            system.setDefaultPeriodicBoxVectors(*[openmm.Vec3(*row) / ANGSTROM_PER_NM for row in cell])
            system.addForce(force)
            return system

        runs = {"step": make_context(new_system(TorchForce(path, elements=symbols, periodic=True)), positions, cell, args)}
        if not args.no_python_force:
            for name, compute in (("pyf_torch", python_force_torch(torchscript_path, core_model, species,
                                                                   core_model.cutoff)),
                                  ("pyf_core", python_force_core(core_model, species)),
                                  ("pyf_torch_nl", python_force_torch_nl(torchscript_path, core_model, species,
                                                                         core_model.cutoff))):
                force = openmm.PythonForce(compute)
                force.setUsesPeriodicBoundaryConditions(True)
                runs[name] = make_context(new_system(force), positions, cell, args)
        if not args.no_openmm_ml:
            topology = periodic_topology(symbols, cell)
            potentials = {"oml": MLPotential("equipot", modelPath=path, threads=args.threads),
                          "oml_pyf": MLPotential(PYTHON_FORCE_POTENTIAL, modelPath=path)}
            for name, potential in potentials.items():
                runs[name] = make_context(potential.createSystem(topology), positions, cell, args)
        # The core is timed on the TorchForce run's current configuration.
        state = runs["step"][0].getState(getPositions=True)
        configuration = np.asarray(state.getPositions(asNumpy=True).value_in_unit(openmm.unit.angstrom))
        time_core(core_model, configuration, cell, species, args.warmup)
        if not args.no_openmm_ml:  # (c) compares two builds of one model: same energy
            energies = []
            for name in ("oml", "oml_pyf"):
                runs[name][0].setPositions(configuration / ANGSTROM_PER_NM)
                energies.append(runs[name][0].getState(getEnergy=True).getPotentialEnergy()._value)
            assert abs(energies[0] - energies[1]) <= 1e-5 * abs(energies[0]), f"OML vs OML-PyF energies {energies}"
        times = {name: [] for name in list(runs) + ["core"]}
        for _ in range(args.repeats):  # interleaved, so load changes hit every variant alike
            for name, (_, integrator) in runs.items():
                times[name].append(time_steps(integrator, args.steps))
            times["core"].append(time_core(core_model, configuration, cell, species, args.steps))
        best = {name: min(values) for name, values in times.items()}
        median = {name: float(np.median(values)) for name, values in times.items()}
        num_edges = neighbor_list(configuration, cell, [True] * 3, core_model.cutoff)[0].shape[1]
        line = (f"{len(symbols):>6} {num_edges:>7} {best['step'] * 1e3:>9.3f} {best['core'] * 1e3:>9.3f} "
                f"{best['step'] / best['core']:>9.3f} {median['step'] / median['core']:>7.3f}")
        if not args.no_python_force:
            for name in ("pyf_torch", "pyf_core", "pyf_torch_nl"):
                line += f" {best[name] * 1e3:>12.3f} {best[name] / best['step']:>8.2f}"
        if not args.no_openmm_ml:
            line += f" {best['oml'] * 1e3:>9.3f} {best['oml_pyf'] * 1e3:>10.3f} {best['oml_pyf'] / best['oml']:>6.2f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
