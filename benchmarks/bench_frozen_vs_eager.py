"""Is the frozen model ever slower than the eager one? Energy + edge-gradient time of
each architecture (default hyperparameters, float64, random weights) on a rattled
Cu-Ni fcc box, interleaved in one process:

  eager              the Python model (torch ops, native backward kernels)
  frozen, optimised  the export_model file under TorchScript's default graph executor,
                     first call with gradients (what the C++ core did before: its speed
                     then depended on whether a no-grad call happened to come first)
  frozen, as core    the same file with the graph executor's optimisations off, as the
                     C++ core now runs it (Model::evaluate's GraphOptimizerEnabledGuard)

Target: "frozen, as core" / eager <= 1 (within noise).

    python benchmarks/bench_frozen_vs_eager.py [--archs schnet,painn] [--repeat 4] [--threads 1]
"""

import argparse
import io
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from equipot import _core  # noqa: E402
from equipot.export import freeze  # noqa: E402
from equipot.models import ARCHITECTURES, build_model  # noqa: E402
from tests.conftest import cuni_alloy  # noqa: E402  (the tests' Cu-Ni structures)


def edges_of(repeat: int, cutoff: float, dtype):
    """Species, edges and edge vectors of the tests' rattled Cu-Ni fcc box."""
    atoms = cuni_alloy((repeat,) * 3, seed=0, rattle=0.05, a=3.6)
    edge_index, shifts = _core.neighbor_list(atoms.positions, atoms.cell[:], atoms.pbc, cutoff)
    edge_index = torch.as_tensor(edge_index)
    positions = torch.as_tensor(atoms.positions)
    vectors = (positions[edge_index[1]] - positions[edge_index[0]]
               + torch.as_tensor(shifts, dtype=torch.float64) @ torch.as_tensor(atoms.cell[:]))
    species = torch.as_tensor(_core.species_indices(atoms.get_chemical_symbols(), ["Cu", "Ni"]))
    return species, edge_index, vectors.to(dtype)


def energy_and_gradient(call, species, edge_index, vectors):
    vectors = vectors.clone().requires_grad_(True)
    energy = call(species, edge_index, vectors).sum()
    torch.autograd.grad(energy, vectors)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", default=",".join(sorted(ARCHITECTURES)))
    parser.add_argument("--repeat", type=int, default=4, help="fcc cells per box edge (4 n^3 atoms; default 4)")
    parser.add_argument("--calls", type=int, default=9, help="timed calls of each (default 9; median)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f}")
    print(f"{'architecture':<12} {'atoms':>6} {'eager ms':>9} {'optimised ms':>13} {'as core ms':>11} "
          f"{'optimised/eager':>16} {'as core/eager':>14}")
    for arch in args.archs.split(","):
        torch.manual_seed(0)
        model = build_model(arch, ["Cu", "Ni"], cutoff=4.5).double().eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        buffer = io.BytesIO()
        torch.jit.save(freeze(model, "float64"), buffer)
        loaded = []
        for _ in range(2):
            buffer.seek(0)
            loaded.append(torch.jit.load(buffer))
        optimised, plain = loaded

        def as_core(*inputs):
            with torch.jit.optimized_execution(False):
                return plain(*inputs)

        inputs = edges_of(args.repeat, model.cutoff, torch.float64)
        calls = {"eager": model, "optimised": optimised, "as core": as_core}
        times = {name: [] for name in calls}
        for index in range(args.calls + 2):  # two untimed rounds first
            for name, call in calls.items():
                started = time.perf_counter()
                energy_and_gradient(call, *inputs)
                if index >= 2:
                    times[name].append(time.perf_counter() - started)
        ms = {name: 1000 * statistics.median(values) for name, values in times.items()}
        print(f"{arch:<12} {inputs[0].shape[0]:>6} {ms['eager']:>9.1f} {ms['optimised']:>13.1f} "
              f"{ms['as core']:>11.1f} {ms['optimised'] / ms['eager']:>16.3f} {ms['as core'] / ms['eager']:>14.3f}",
              flush=True)
    print(f"# load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
