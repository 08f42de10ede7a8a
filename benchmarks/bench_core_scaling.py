"""Energy+forces time and neighbor-list time of the C++ core from 1k to 32k atoms,
and the fitted scaling exponents (both should be close to 1: O(N)).

    python benchmarks/bench_core_scaling.py [--model model.pt] [--max-atoms 32000]

Without --model it exports a SchNet with random weights (64 features, 3
interactions, 5 A cutoff: the demo's size) to a temporary file.
"""

import argparse
import os
import tempfile
import time

import numpy as np
from ase.build import bulk

import equipot
from equipot import _core


def best_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def cuni_box(num_atoms, seed=0):
    cells = max(1, round((num_atoms / 4) ** (1 / 3)))
    atoms = bulk("Cu", "fcc", a=3.58, cubic=True).repeat((cells, cells, cells))
    rng = np.random.default_rng(seed)
    atoms.symbols[rng.random(len(atoms)) < 0.4] = "Ni"
    atoms.rattle(0.05, seed=seed)
    return atoms


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="exported model file (default: a random-weight SchNet)")
    parser.add_argument("--max-atoms", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    path = args.model
    if path is None:
        import torch

        from equipot.export import export_model
        from equipot.models import SchNet

        torch.manual_seed(0)
        path = os.path.join(tempfile.mkdtemp(), "schnet.pt")
        export_model(SchNet(["Cu", "Ni"], cutoff=5.0, num_features=64, num_filters=64, num_interactions=3), path)
    model = _core.Model(path)
    import torch

    print(f"equipot {equipot.__version__}, model {model.architecture} cutoff {model.cutoff} A, "
          f"{model.dtype}, torch threads {torch.get_num_threads()}")
    print(f"{'atoms':>7} {'edges':>9} {'neighbor list (s)':>18} {'energy+forces (s)':>18} {'us/atom':>8}")
    sizes, nl_times, ef_times = [], [], []
    target = 1000
    while target <= args.max_atoms:
        atoms = cuni_box(target)
        positions, cell, pbc = atoms.positions, np.asarray(atoms.cell[:]), atoms.pbc
        species = model.species(atoms.get_chemical_symbols())
        edges = _core.neighbor_list(positions, cell, pbc, model.cutoff)[0].shape[1]
        t_nl = best_time(lambda: _core.neighbor_list(positions, cell, pbc, model.cutoff), args.repeats)
        model.evaluate_structure(positions, cell, pbc, species)  # warm-up (TorchScript profiling runs)
        t_ef = best_time(lambda: model.evaluate_structure(positions, cell, pbc, species), args.repeats)
        n = len(atoms)
        print(f"{n:>7} {edges:>9} {t_nl:>18.4f} {t_ef:>18.4f} {1e6 * t_ef / n:>8.1f}")
        sizes.append(n)
        nl_times.append(t_nl)
        ef_times.append(t_ef)
        target *= 2
    log_n = np.log(sizes)
    print(f"scaling exponent, neighbor list: {np.polyfit(log_n, np.log(nl_times), 1)[0]:.3f}")
    print(f"scaling exponent, energy+forces (neighbor list included): {np.polyfit(log_n, np.log(ef_times), 1)[0]:.3f}")


if __name__ == "__main__":
    main()
