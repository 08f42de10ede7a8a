"""Does resident memory stay flat over many evaluations, and what does the core's
memory pool (cpp/include/equipot/memory_pool.h) buy? Each mode runs in its own fresh
process, as a user's simulation would:

  pool      the core as it ships: an evaluation's large buffers reused by the next,
            the cache bounded by the blocks one evaluation used
  no pool   EQUIPOT_MEMORY_POOL=0: torch's allocator, glibc as it comes
  mallopt   no pool, but glibc told never to mmap and not to trim (M_MMAP_MAX 0,
            M_TRIM_THRESHOLD 1 GiB): what the core did process-wide before the pool

Runs (SchNet, default hyperparameters, float64 TorchScript file, 1 thread, through
Model.evaluate_structure):
  fixed     --fixed-calls evaluations of one rattled Cu-Ni fcc box (4 n^3 atoms)
  varying   --varying-calls evaluations of an MD-like trajectory of the same box:
            positions random-walk (0.02 A per step) and the cell breathes by +-4%,
            so the number of edges changes from step to step
  sizes     the fixed box, then one 8 times larger, then the first again, in turns:
            the pool must give back what the large box needed

Printed: resident memory (RSS) after every block of calls, the growth from the end
of the first block to the end, and the median time per call in each mode; ratios are
no pool / pool and mallopt / pool.

    python benchmarks/bench_memory_growth.py [--repeat 4] [--fixed-calls 10000]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODES = ("pool", "no pool", "mallopt")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def child(mode: str, run: str, path: str, repeat: int, calls: int, blocks: int) -> None:
    if mode == "mallopt":
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)  # M_MMAP_MAX
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    import numpy as np
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from equipot import _core
    from tests.conftest import cuni_alloy

    torch.set_num_threads(1)
    model = _core.Model(path)
    small = cuni_alloy((repeat,) * 3, seed=0, rattle=0.05, a=3.6)
    large = cuni_alloy((2 * repeat,) * 3, seed=0, rattle=0.05, a=3.6)
    rng = np.random.default_rng(0)
    positions, cell = small.positions.copy(), small.cell[:].copy()
    structures = {id(a): (model.species(a.get_chemical_symbols()), a) for a in (small, large)}
    records, times = [], []
    for call in range(calls):
        atoms = small
        if run == "sizes" and (call // max(calls // 10, 1)) % 2 == 1:
            atoms = large
        species, _ = structures[id(atoms)]
        if run == "varying":
            positions += rng.normal(scale=0.02, size=positions.shape)
            scale = 1.0 + 0.04 * np.sin(2 * np.pi * call / 500)
            args = (positions * scale, cell * scale)
        else:
            args = (atoms.positions, atoms.cell[:])
        started = time.perf_counter()
        result = model.evaluate_structure(args[0], args[1], [True] * 3, species)
        times.append(time.perf_counter() - started)
        del result
        if (call + 1) % max(calls // blocks, 1) == 0:
            stats = _core.memory_pool_stats()
            records.append(dict(calls=call + 1, rss_mb=rss_mb(), cached_mb=stats["cached_bytes"] / 2**20,
                                reused=stats["reused"], allocated=stats["allocated"]))
    print(json.dumps(dict(records=records, median_ms=1e3 * statistics.median(times),
                          pool_enabled=_core.memory_pool_stats()["enabled"])))


def run_mode(mode, run, path, args, calls):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if mode != "pool":
        env["EQUIPOT_MEMORY_POOL"] = "0"
    out = subprocess.run([sys.executable, __file__, "--child", mode, run, path, str(args.repeat), str(calls),
                          str(args.blocks)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{mode} {run} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=4, help="fcc cells per box edge (4 n^3 atoms; default 4)")
    parser.add_argument("--fixed-calls", type=int, default=10000)
    parser.add_argument("--varying-calls", type=int, default=3000)
    parser.add_argument("--sizes-calls", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=10, help="RSS samples per run (default 10)")
    parser.add_argument("--runs", default="fixed,varying,sizes")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, run, path, repeat, calls, blocks = args.child
        child(mode, run, path, int(repeat), int(calls), int(blocks))
        return
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from equipot.export import export_model
    from equipot.models import build_model

    torch.manual_seed(0)
    path = os.path.join(tempfile.mkdtemp(), "schnet.pt")
    export_model(build_model("schnet", ["Cu", "Ni"]), path, "float64")
    print(f"# SchNet (defaults), float64, 1 thread, {4 * args.repeat ** 3} atoms; load average "
          f"{os.getloadavg()[0]:.2f}")
    for run in args.runs.split(","):
        calls = getattr(args, f"{run}_calls")
        results = {mode: run_mode(mode, run, path, args, calls) for mode in MODES}
        print(f"\n## {run}: {calls} evaluations")
        print(f"{'calls':>7} " + " ".join(f"{m + ' RSS MB':>15}" for m in MODES) + f" {'pool cache MB':>14}")
        for k, record in enumerate(results["pool"]["records"]):
            print(f"{record['calls']:>7} " + " ".join(f"{results[m]['records'][k]['rss_mb']:>15.1f}" for m in MODES)
                  + f" {record['cached_mb']:>14.1f}")
        growth = {m: results[m]["records"][-1]["rss_mb"] - results[m]["records"][0]["rss_mb"] for m in MODES}
        peak = {m: max(r["rss_mb"] for r in results[m]["records"]) for m in MODES}
        print("growth after the first block (MB): " + ", ".join(f"{m} {growth[m]:+.1f}" for m in MODES))
        print("highest RSS (MB): " + ", ".join(f"{m} {peak[m]:.1f}" for m in MODES))
        last = results["pool"]["records"][-1]
        print(f"pool: {last['reused']} allocations reused, {last['allocated']} new")
        ms = {m: results[m]["median_ms"] for m in MODES}
        print("median ms per call: " + ", ".join(f"{m} {ms[m]:.2f}" for m in MODES)
              + f"; no pool / pool {ms['no pool'] / ms['pool']:.2f}, mallopt / pool {ms['mallopt'] / ms['pool']:.2f}")
    print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
