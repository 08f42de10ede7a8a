"""Every architecture in each way it can run: energy + forces time per call, and peak
memory, of

  eager        the Python model: forward, then autograd through the edge vectors
  torchscript  the format-1 file (export_model), run by the C++ core
  aoti         the format-2 package (export_model --format aoti), run by the C++ core

with default hyperparameters and random weights, on the tests' rattled Cu-Ni fcc boxes
(4 n^3 atoms), for float32 and float64 and 1 and 2 threads. The three run on the same
edges, interleaved in rounds in one process (the machine may be shared); each time is
the median of the rounds. The core is timed through Model.evaluate_graph (the model and
the assembly of forces; the neighbor list is left out, as it is the same for both
formats).

Targets (issue "Performance I"): torchscript <= eager; aoti <= 0.67 x torchscript at
1k-8k atoms and <= 0.5 x at <= 100 atoms. Compiling a package takes 15-90 s per model
and dtype. Peak memory (--memory) is measured in a fresh process per (model, format,
size): the resident-set high-water mark of the calls minus that after loading.

    python benchmarks/bench_models.py                       # everything (long)
    python benchmarks/bench_models.py --archs schnet,nequip --repeats 2,4 --dtypes float64
    python benchmarks/bench_models.py --memory --repeats 8   # adds the peak-memory columns
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from equipot import _core  # noqa: E402
from equipot.export import export_model  # noqa: E402
from equipot.models import ARCHITECTURES, build_model  # noqa: E402
from bench_frozen_vs_eager import edges_of  # noqa: E402  (the same boxes)

FORMATS = ("eager", "torchscript", "aoti")


def graph_of(repeat: int, cutoff: float):
    """species, edge_index and float64 edge vectors of the rattled Cu-Ni fcc box."""
    return edges_of(repeat, cutoff, torch.float64)


def model_of(arch: str, dtype: str):
    torch.manual_seed(0)
    model = build_model(arch, ["Cu", "Ni"], dtype=getattr(torch, dtype)).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def callers(arch: str, dtype: str, folder: str):
    """{format: call(species, edge_index, vectors)} computing energies and forces."""
    model = model_of(arch, dtype)
    files = {"torchscript": os.path.join(folder, f"{arch}_{dtype}.pt"),
             "aoti": os.path.join(folder, f"{arch}_{dtype}.pt2")}
    for file_format, path in files.items():
        if not os.path.exists(path):
            started = time.perf_counter()
            export_model(model, path, dtype, file_format=file_format)
            print(f"# exported {arch} {dtype} {file_format} in {time.perf_counter() - started:.0f} s", flush=True)
    torch_dtype = getattr(torch, dtype)

    def eager(species, edge_index, vectors):
        vectors = vectors.to(torch_dtype, copy=True).requires_grad_(True)
        energy = model(species, edge_index, vectors).sum()
        return torch.autograd.grad(energy, vectors)[0]

    calls = {"eager": eager}
    for file_format, path in files.items():
        core = _core.Model(path)
        calls[file_format] = (lambda core: lambda s, e, v: core.evaluate_graph(s.numpy(), e.numpy(), v.detach().numpy()))(core)
    return calls, model.cutoff


def peak_memory_child(arch, dtype, file_format, repeat, folder, threads):
    """Run in a fresh process: prints the peak resident memory of 3 calls above that
    after loading and one call on a 2-atom-box warm-up, in MB."""
    torch.set_num_threads(threads)
    calls, cutoff = callers(arch, dtype, folder)
    call = calls[file_format]
    graph = graph_of(repeat, cutoff)
    call(*graph_of(1, cutoff))
    with open("/proc/self/status") as status:
        baseline = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    for _ in range(3):
        call(*graph)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    print(json.dumps({"peak_mb": max(peak - baseline, 0) / 1024}))


def peak_memory(arch, dtype, file_format, repeat, folder, threads):
    # the core as it ships (its memory pool on; EQUIPOT_MEMORY_POOL in the environment is passed on)
    result = subprocess.run([sys.executable, __file__, "--child", arch, dtype, file_format, str(repeat), folder,
                             str(threads)], capture_output=True, text=True)
    if result.returncode != 0:
        return float("nan")
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", default=",".join(sorted(ARCHITECTURES)))
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--repeats", default="2,4,8,13",
                        help="fcc cells per box edge (4 n^3 atoms: 32, 256, 2048, 8788)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median; default 5)")
    parser.add_argument("--max-seconds", type=float, default=4.0,
                        help="skip larger boxes of a model once one eager call takes longer (default 4 s)")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory (a process per cell)")
    parser.add_argument("--folder", default=None, help="where the exported files are kept (default: a temporary "
                        "folder); files already there are reused")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        arch, dtype, file_format, repeat, folder, threads = args.child
        peak_memory_child(arch, dtype, file_format, int(repeat), folder, int(threads))
        return
    folder = args.folder or tempfile.mkdtemp(prefix="bench_models_")
    os.makedirs(folder, exist_ok=True)
    print(f"# torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}, files in {folder}")
    memory_header = "".join(f" {f + ' MB':>15}" for f in FORMATS) if args.memory else ""
    header = (f"{'architecture':<14} {'dtype':<8} {'thr':>3} {'atoms':>6} {'edges':>7} "
              + "".join(f" {f + ' ms':>15}" for f in FORMATS)
              + f" {'ts/eager':>9} {'aoti/ts':>8}" + memory_header)
    rows = []
    for arch in args.archs.split(","):
        for dtype in args.dtypes.split(","):
            calls, cutoff = callers(arch, dtype, folder)
            print(header, flush=True)
            too_slow = False
            for repeat in map(int, args.repeats.split(",")):
                if too_slow:
                    break
                graph = graph_of(repeat, cutoff)
                for threads in map(int, args.threads.split(",")):
                    torch.set_num_threads(threads)
                    times = {f: [] for f in FORMATS}
                    for f in FORMATS:
                        calls[f](*graph)  # warm-up
                    for _ in range(args.rounds):
                        for f in FORMATS:
                            started = time.perf_counter()
                            calls[f](*graph)
                            times[f].append(time.perf_counter() - started)
                    ms = {f: 1e3 * statistics.median(t) for f, t in times.items()}
                    row = dict(arch=arch, dtype=dtype, threads=threads, atoms=int(graph[0].shape[0]),
                               edges=int(graph[1].shape[1]), ms=ms, ts_over_eager=ms["torchscript"] / ms["eager"],
                               aoti_over_ts=ms["aoti"] / ms["torchscript"])
                    line = (f"{arch:<14} {dtype:<8} {threads:>3} {row['atoms']:>6} {row['edges']:>7} "
                            + "".join(f" {ms[f]:>15.2f}" for f in FORMATS)
                            + f" {row['ts_over_eager']:>9.2f} {row['aoti_over_ts']:>8.2f}")
                    if args.memory:
                        row["peak_mb"] = {f: peak_memory(arch, dtype, f, repeat, folder, threads) for f in FORMATS}
                        line += "".join(f" {row['peak_mb'][f]:>15.1f}" for f in FORMATS)
                    print(line, flush=True)
                    rows.append(row)
                    too_slow = too_slow or ms["eager"] > 1e3 * args.max_seconds
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")
    print("# rows as JSON: " + json.dumps(rows))


if __name__ == "__main__":
    main()
