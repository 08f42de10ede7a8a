"""The README's architecture table: train every architecture on the bundled data
(Cu-Ni EMT and GFN2-xTB water clusters) with the same wall-clock budget, export it,
and time an energy+forces call through the C++ core.

    .venv/bin/python benchmarks/train_zoo.py [--minutes 2.5] [--archs schnet painn ...]

Each run trains with equipot's own pipeline (`equipot.training.train`) in float32
for at most --minutes (or --epochs, whichever ends first) and reports the best
epoch's validation MAE. The time per call is the median of 5 calls of the exported
float64 model on a 500-atom Cu-Ni fcc box (5x5x5 cubic cells, a = 3.6 A, 40% Ni,
rattled 0.05 A), core neighbor list included, with --threads torch threads. Long:
about 2 x --minutes per architecture; run it on a quiet machine (it prints the load
average). Writes runs/zoo/table.md and runs/zoo/results.json.
"""

import argparse
import json
import os
import time

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Moderate sizes: the same order of parameters for every architecture; the cutoff
# is 5 A for Cu-Ni and 4.5 A for water.
HYPERPARAMETERS = {
    "schnet": dict(num_features=64, num_filters=64, num_interactions=3, num_basis=32),
    "painn": dict(num_features=64, num_interactions=3, num_basis=20),
    "dimenet++": dict(hidden_channels=64, out_emb_channels=96, int_emb_size=32, basis_emb_size=8, num_blocks=2,
                      num_spherical=7, num_radial=6),
    "tensornet": dict(hidden_channels=64, num_interactions=2, num_rbf=32),
    "nequip": dict(num_layers=3, l_max=1, num_features=32, radial_mlp_width=64),
    # A small EquiformerV2 (2 blocks, l_max 2, m_max 1, S2 activation; 67k parameters): still
    # ~1 s per training step of 8 Cu-Ni structures on one core (~50 s per epoch), so only a
    # few epochs fit in --minutes 2.5; wider settings cost several times more.
    "equiformer_v2": dict(num_blocks=2, l_max=2, m_max=1, sphere_channels=16, attn_hidden_channels=16, num_heads=4,
                          attn_alpha_channels=8, attn_value_channels=8, ffn_hidden_channels=32, edge_channels=16,
                          num_distance_basis=16),
}
DATASETS = {"cuni_emt": 5.0, "water_xtb": 4.5}


def timing_box():
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((5, 5, 5))
    rng = np.random.default_rng(0)
    atoms.symbols[rng.random(len(atoms)) < 0.4] = "Ni"
    atoms.rattle(0.05, seed=0)
    return atoms


def time_per_call(model_path, atoms, repeats=5):
    from equipot import _core

    model = _core.Model(model_path)
    species = model.species(atoms.get_chemical_symbols())
    args = (atoms.positions, np.asarray(atoms.cell[:]), [True] * 3, species)
    model.evaluate_structure(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.evaluate_structure(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    from equipot.export import export_model, load_checkpoint, model_from_checkpoint
    from equipot.models import ARCHITECTURES
    from equipot.training import train

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="+", default=sorted(ARCHITECTURES))
    parser.add_argument("--minutes", type=float, default=2.5, help="training budget per run")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(REPO, "runs", "zoo"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# load average at start {os.getloadavg()}, {args.threads} threads")
    results = []
    for architecture in args.archs:
        row = {"architecture": architecture, "hyperparameters": HYPERPARAMETERS[architecture]}
        for dataset, cutoff in DATASETS.items():
            out = os.path.join(args.out, f"{architecture.replace('+', 'p')}_{dataset}")
            config = {
                "model": {"architecture": architecture, "cutoff": cutoff, **HYPERPARAMETERS[architecture]},
                "data": {"train": os.path.join(REPO, "data", dataset, "train.extxyz"),
                         "val": os.path.join(REPO, "data", dataset, "val.extxyz")},
                "training": {"epochs": args.epochs, "batch_size": 8, "learning_rate": 0.002, "lr_patience": 4,
                             "stress_weight": 100.0 if dataset == "cuni_emt" else 0.0,
                             "max_minutes": args.minutes},
                "out": out,
            }
            started = time.time()
            summary = train(config, progress=False)
            with open(os.path.join(out, "metrics.json")) as handle:
                epochs_run = len(json.load(handle)["history"])
            row[dataset] = {"energy_mae_meV_atom": 1000 * summary["val_energy_mae"], "epochs": epochs_run,
                            "forces_mae_meV_A": 1000 * summary["val_forces_mae"],
                            "best_epoch": summary["best_epoch"], "minutes": (time.time() - started) / 60}
            if dataset == "cuni_emt":
                model = model_from_checkpoint(load_checkpoint(os.path.join(out, "checkpoint.pt")))
                row["parameters"] = sum(p.numel() for p in model.parameters())
                path = os.path.join(out, "model.pt")
                export_model(model, path, "float64")
                row["ms_per_call_500_atoms"] = 1000 * time_per_call(path, timing_box())
            print(json.dumps(row), flush=True)
        results.append(row)
    lines = ["| architecture | parameters | Cu-Ni epochs | Cu-Ni E MAE (meV/atom) | Cu-Ni F MAE (meV/A) | water epochs "
             "| water E MAE (meV/atom) | water F MAE (meV/A) | E+F, 500 Cu-Ni atoms (ms) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in results:
        c, w = row["cuni_emt"], row["water_xtb"]
        lines.append(f"| {row['architecture']} | {row['parameters']:,} | {c['epochs']} | {c['energy_mae_meV_atom']:.2f} | "
                     f"{c['forces_mae_meV_A']:.1f} | {w['epochs']} | {w['energy_mae_meV_atom']:.2f} | "
                     f"{w['forces_mae_meV_A']:.1f} | {row['ms_per_call_500_atoms']:.0f} |")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "table.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as handle:
        json.dump(results, handle, indent=1)
    print("\n".join(lines))
    print(f"# load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
