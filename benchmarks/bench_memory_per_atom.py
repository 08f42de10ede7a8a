"""Time and peak memory per atom of one energy+forces call of every equipot
architecture, through the exported model and the C++ core.

    .venv/bin/python benchmarks/bench_memory_per_atom.py [--archs schnet nequip ...]
        [--cells 5] [--dtype float64] [--threads 1] [--repeats 5] [--json out.json]

Models: each architecture at its benchmarks/train_zoo.py HYPERPARAMETERS (the README
table's sizes; an architecture without an entry there is skipped with a note), cutoff
5 A, elements Cu and Ni, random weights (time and memory do not depend on the
weights), exported with `export_model` in --dtype (float64 by default, as train_zoo
times them). Structure: train_zoo's Cu-Ni fcc box (--cells 5: 5 x 5 x 5 cubic cells,
500 atoms, a = 3.6 A, 40% Ni, rattled 0.05 A, periodic).

Each architecture runs in a fresh Python process (so that one model's freed memory
cannot hide the next one's peak): it loads the exported model with
`equipot._core.Model` (the core's own validation call at load included), reads its
resident memory (VmRSS), resets the kernel's peak-resident mark (VmHWM, via
/proc/self/clear_refs), makes one warm-up call and --repeats timed calls of
`evaluate_structure` (energy, forces and stress, the core's neighbour list
included) and reads the peak. "peak MB" is that peak minus the resident memory
before the calls: what an energy+forces call adds on top of the loaded model
(libtorch's allocations included, which tracemalloc does not see), "peak MB/atom" it
divided by the atoms; "ms/call" is the median call, "us/atom" it divided by the
atoms. The first call's one-time allocations (TorchScript's profiling run) are
included; with the core's malloc tuning, freed memory stays mapped and later calls
reuse it.

Timings share the machine: the load average is printed at the start and the end.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHITECTURES = ["schnet", "painn", "dimenet++", "tensornet", "nequip", "equiformer_v2"]
CUTOFF = 5.0
ELEMENTS = ["Cu", "Ni"]


def _memory_kb():
    """(resident now, peak resident since the last reset) of this process, kB."""
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def _reset_peak() -> bool:
    """Reset this process's peak resident set size (Linux >= 4.0: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def child(args) -> int:
    """In a fresh process: load the exported model, measure, print one JSON line."""
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    from train_zoo import timing_box

    from equipot import _core

    atoms = timing_box() if args.cells == 5 else _box(args.cells)
    model = _core.Model(args.child)
    species = model.species(atoms.get_chemical_symbols())
    inputs = (atoms.positions, np.asarray(atoms.cell[:]), [True] * 3, species)
    resident, _ = _memory_kb()
    reset = _reset_peak()
    model.evaluate_structure(*inputs)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.evaluate_structure(*inputs)
        times.append(time.perf_counter() - start)
    resident_after, peak = _memory_kb()
    print(json.dumps({"atoms": len(atoms), "resident_before_mb": resident / 1024, "peak_mb": peak / 1024,
                      "resident_after_mb": resident_after / 1024, "peak_reset": reset, "times_s": times}))
    return 0


def _box(cells):
    import numpy as np
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((cells, cells, cells))
    rng = np.random.default_rng(0)
    atoms.symbols[rng.random(len(atoms)) < 0.4] = "Ni"
    atoms.rattle(0.05, seed=0)
    return atoms


def export(architecture: str, hyperparameters, dtype: str, folder: str):
    """(path of the exported model, number of parameters)."""
    import torch

    from equipot.export import export_model
    from equipot.models import build_model

    torch.manual_seed(0)
    model = build_model(architecture, ELEMENTS, cutoff=CUTOFF, **hyperparameters)
    path = os.path.join(folder, architecture.replace("+", "p") + ".pt")
    export_model(model, path, dtype)
    return path, sum(p.numel() for p in model.parameters())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=ARCHITECTURES)
    parser.add_argument("--cells", type=int, default=5, help="n x n x n cubic fcc cells (default 5: 500 atoms)")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: the exported model to measure
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    from train_zoo import HYPERPARAMETERS

    load_start = os.getloadavg()
    print(f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}; "
          f"{args.threads} thread(s), {args.dtype}, {4 * args.cells ** 3} Cu-Ni atoms, cutoff {CUTOFF:g} A, "
          f"median of {args.repeats} calls", flush=True)
    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as folder:
        for architecture in args.archs:
            if architecture not in HYPERPARAMETERS:
                skipped.append(f"{architecture}: no entry in train_zoo.HYPERPARAMETERS")
                print(f"skipped {skipped[-1]}", flush=True)
                continue
            path, parameters = export(architecture, HYPERPARAMETERS[architecture], args.dtype, folder)
            command = [sys.executable, os.path.abspath(__file__), "--child", path, "--cells", str(args.cells),
                       "--threads", str(args.threads), "--repeats", str(args.repeats)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                skipped.append(f"{architecture}: the measuring process failed: {result.stderr.strip()[-400:]}")
                print(f"skipped {skipped[-1]}", flush=True)
                continue
            measured = json.loads(result.stdout.strip().splitlines()[-1])
            median = statistics.median(measured["times_s"])
            if not measured["peak_reset"]:
                print(f"  warning: {architecture}: the peak could not be reset after loading (no "
                      "/proc/self/clear_refs): it may be the load's", flush=True)
            peak = measured["peak_mb"] - measured["resident_before_mb"]
            row = dict(architecture=architecture, parameters=parameters, atoms=measured["atoms"],
                       ms_per_call=1e3 * median, us_per_atom=1e6 * median / measured["atoms"], peak_mb=peak,
                       peak_mb_per_atom=peak / measured["atoms"], resident_before_mb=measured["resident_before_mb"],
                       resident_after_mb=measured["resident_after_mb"], hyperparameters=HYPERPARAMETERS[architecture],
                       times_s=measured["times_s"], loadavg=os.getloadavg()[0])
            rows.append(row)
            print(f"{architecture}: {row['ms_per_call']:.0f} ms/call, peak +{peak:.0f} MB", flush=True)
    load_end = os.getloadavg()

    print("\n| architecture | parameters | ms/call | us/atom | peak MB (call) | peak MB/atom | MB loaded |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['architecture']} | {row['parameters']:,} | {row['ms_per_call']:.0f} | "
              f"{row['us_per_atom']:.0f} | {row['peak_mb']:.0f} | {row['peak_mb_per_atom']:.3f} | "
              f"{row['resident_before_mb']:.0f} |")
    for reason in skipped:
        print(f"skipped {reason}")
    print(f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(dict(rows=rows, skipped=skipped, loadavg_start=load_start, loadavg_end=load_end,
                           threads=args.threads, dtype=args.dtype, argv=sys.argv[1:]), handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
