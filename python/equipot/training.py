"""Training: energy + force (+ stress) loss, per-element reference energies by least
squares, Adam with a plateau learning-rate schedule, validation every epoch,
best-model selection, resumable checkpoints, learning-curve and parity plots."""

import copy
import json
import math
import os
import random
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from .data import Structure, collate, elements_in, predict, read_structures, reference_value, structure_from_atoms
from .models import build_model

DEFAULT_CONFIG: Dict = {
    "model": {"architecture": "schnet", "cutoff": 5.0},
    "data": {"train": None, "val": None, "val_fraction": 0.1},
    "training": {
        "epochs": 100,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "min_learning_rate": 1e-5,
        "lr_factor": 0.5,
        "lr_patience": 5,
        "energy_weight": 10.0,
        "force_weight": 10.0,
        "stress_weight": 0.0,
        "seed": 0,
        "dtype": "float32",
        "max_minutes": None,
    },
    "out": "runs/equipot",
}


def merge_config(base: Dict, override: Dict) -> Dict:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def fit_reference_energies(structures: Sequence[Structure], num_elements: int) -> np.ndarray:
    """Per-element energies e_k minimising sum_s (E_s - sum_k n_sk e_k)^2."""
    counts = np.stack([np.bincount(s.species, minlength=num_elements) for s in structures]).astype(float)
    energies = np.array([s.energy for s in structures])
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return solution


def energy_scale_of(structures: Sequence[Structure], references: np.ndarray) -> float:
    """RMS force component (the natural energy/length scale of the data), falling
    back to the spread of per-atom residual energies when there are no forces."""
    forces = [s.forces for s in structures if s.forces is not None]
    if forces:
        scale = float(np.sqrt(np.mean(np.concatenate(forces) ** 2)))
    else:
        residual = [(s.energy - references[s.species].sum()) / s.num_atoms for s in structures]
        scale = float(np.std(residual))
    return scale if scale > 1e-8 else 1.0


class Metrics:
    """Accumulates absolute and squared errors over an epoch."""

    def __init__(self):
        self.sums: Dict[str, List[float]] = {}

    def add(self, name: str, errors: torch.Tensor):
        errors = errors.detach().double().flatten()
        total = self.sums.setdefault(name, [0.0, 0.0, 0])
        total[0] += errors.abs().sum().item()
        total[1] += (errors**2).sum().item()
        total[2] += errors.numel()

    def result(self) -> Dict[str, float]:
        out = {}
        for name, (abs_sum, sq_sum, count) in self.sums.items():
            if count:
                out[f"{name}_mae"] = abs_sum / count
                out[f"{name}_rmse"] = math.sqrt(sq_sum / count)
        return out


def batches(structures: Sequence[Structure], batch_size: int, dtype, shuffle: bool, rng: random.Random):
    order = list(range(len(structures)))
    if shuffle:
        rng.shuffle(order)
    for start in range(0, len(order), batch_size):
        yield collate([structures[k] for k in order[start : start + batch_size]], dtype)


def run_epoch(model, structures, settings, dtype, optimizer=None, rng=None, collect=None) -> Dict[str, float]:
    """One pass over `structures`; trains when an optimizer is given. Per-atom
    energy errors in eV/atom, force errors in eV/A, stress errors in eV/A^3."""
    training = optimizer is not None
    model.train(training)
    use_stress = settings["stress_weight"] > 0
    metrics = Metrics()
    loss_total, loss_count = 0.0, 0
    for batch in batches(structures, settings["batch_size"], dtype, training, rng or random.Random(0)):
        want_stress = bool(use_stress and batch.stress_mask.any())
        out = predict(model, batch, forces=batch.forces is not None, stress=want_stress, create_graph=training)
        energy_error = (out["energy"] - batch.energy) / batch.num_atoms.to(dtype)
        loss = settings["energy_weight"] * (energy_error**2).mean()
        metrics.add("energy", energy_error)
        if batch.forces is not None:
            force_error = out["forces"] - batch.forces
            loss = loss + settings["force_weight"] * (force_error**2).mean()
            metrics.add("forces", force_error)
        if want_stress:
            stress_error = (out["stress"] - batch.stress)[batch.stress_mask]
            loss = loss + settings["stress_weight"] * (stress_error**2).mean()
            metrics.add("stress", stress_error)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {loss.item()} (diverged): lower the learning rate or check the data"
            )
        if training:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if collect is not None:
            collect["energy_ref"].append((batch.energy / batch.num_atoms).numpy())
            collect["energy_pred"].append((out["energy"].detach() / batch.num_atoms).numpy())
            if batch.forces is not None:
                collect["force_ref"].append(batch.forces.numpy().ravel())
                collect["force_pred"].append(out["forces"].detach().numpy().ravel())
        loss_total += loss.item() * batch.num_structures
        loss_count += batch.num_structures
    result = metrics.result()
    result["loss"] = loss_total / max(loss_count, 1)
    return result


def _load_split(config: Dict, elements: Optional[List[str]]):
    data = config["data"]
    if not data.get("train"):
        raise ValueError("no training data given (data.train in the config, or --data)")
    train_frames = read_structures(data["train"])
    if data.get("val"):
        val_frames = read_structures(data["val"])
    else:
        rng = random.Random(config["training"]["seed"])
        frames = list(train_frames)
        rng.shuffle(frames)
        n_val = max(1, int(round(len(frames) * data.get("val_fraction", 0.1))))
        val_frames, train_frames = frames[:n_val], frames[n_val:]
    for name, frames in (("training", train_frames), ("validation", val_frames)):
        if not frames:
            raise ValueError(f"the {name} set is empty")
        missing = [k for k, atoms in enumerate(frames) if reference_value(atoms, "energy") is None]
        if missing:
            raise ValueError(f"{name} structure {missing[0]} (and {len(missing) - 1} more) has no reference energy")
    elements = elements or elements_in(list(train_frames) + list(val_frames))
    cutoff = float(config["model"]["cutoff"])
    to_structures = lambda frames: [structure_from_atoms(a, elements, cutoff) for a in frames]  # noqa: E731
    return elements, to_structures(train_frames), to_structures(val_frames)


def train(config: Dict, resume: bool = False, progress: bool = True) -> Dict:
    """Trains a model as `config` says; returns the final summary (also in
    out/metrics.json). Writes out/checkpoint.pt (best validation loss),
    out/last.pt (for --resume), learning_curve.png and parity.png."""
    user_config = config
    config = merge_config(DEFAULT_CONFIG, user_config)
    out_dir = config["out"]
    os.makedirs(out_dir, exist_ok=True)
    last_path = os.path.join(out_dir, "last.pt")
    best_path = os.path.join(out_dir, "checkpoint.pt")
    state = None
    if resume:
        if not os.path.isfile(last_path):
            raise FileNotFoundError(f"--resume: no {last_path} to resume from")
        state = torch.load(last_path, map_location="cpu", weights_only=False)
        # The saved run's settings, with only what was given explicitly now on top.
        config = merge_config(state["config"], {"training": user_config.get("training", {}), "out": out_dir})
    else:
        for stale in (last_path, best_path):  # never mix a fresh run with an old one's files
            if os.path.exists(stale):
                os.remove(stale)
    settings = config["training"]
    dtype = {"float32": torch.float32, "float64": torch.float64}[settings["dtype"]]
    random.seed(settings["seed"])
    torch.manual_seed(settings["seed"])
    rng = random.Random(settings["seed"])

    elements, train_set, val_set = _load_split(config, state["elements"] if state else None)
    model_config = {k: v for k, v in config["model"].items() if k != "architecture"}
    model = build_model(config["model"]["architecture"], elements, **model_config).to(dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=settings["lr_factor"], patience=settings["lr_patience"], min_lr=settings["min_learning_rate"]
    )
    if state:
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        scheduler.load_state_dict(state["scheduler_state"])
        if "learning_rate" in user_config.get("training", {}):
            for group in optimizer.param_groups:
                group["lr"] = settings["learning_rate"]
        history, best, start_epoch = state["history"], state["best"], state["epoch"] + 1
    else:
        references = fit_reference_energies(train_set, len(elements))
        model.reference_energies.copy_(torch.as_tensor(references))
        model.energy_scale.fill_(energy_scale_of(train_set, references))
        history, best, start_epoch = [], {"val_loss": float("inf"), "epoch": -1}, 0

    def checkpoint(epoch: int) -> Dict:
        return {
            "config": config,
            "architecture": model.architecture,
            "hyperparameters": model.hyperparameters(),
            "elements": elements,
            "cutoff": model.cutoff,
            "normalization": {
                "reference_energies": model.reference_energies.tolist(),
                "energy_scale": float(model.energy_scale),
            },
            "model_state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "optimizer_state": optimizer.state_dict(),
            "scheduler_state": scheduler.state_dict(),
            "epoch": epoch,
            "history": history,
            "best": best,
        }

    started = time.time()
    epochs = tqdm(range(start_epoch, settings["epochs"]), desc="training", disable=not progress, unit="epoch")
    for epoch in epochs:
        train_metrics = run_epoch(model, train_set, settings, dtype, optimizer, rng)
        val_metrics = run_epoch(model, val_set, settings, dtype)
        scheduler.step(val_metrics["loss"])
        record = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - started}
        record.update({f"train_{k}": v for k, v in train_metrics.items()})
        record.update({f"val_{k}": v for k, v in val_metrics.items()})
        history.append(record)
        epochs.set_postfix(
            val_E_meV_atom=f"{1000 * val_metrics['energy_mae']:.2f}",
            val_F_meV_A=f"{1000 * val_metrics.get('forces_mae', float('nan')):.1f}",
        )
        improved = val_metrics["loss"] < best["val_loss"]
        if improved:
            best = {"val_loss": val_metrics["loss"], "epoch": epoch, **{f"val_{k}": v for k, v in val_metrics.items()}}
        state = checkpoint(epoch)
        torch.save(state, last_path)
        if improved:
            torch.save(state, best_path)
        if settings["max_minutes"] and time.time() - started > 60 * settings["max_minutes"]:
            break

    best_state = torch.load(best_path, map_location="cpu", weights_only=False)
    model.load_state_dict(best_state["model_state"])
    parity = {"energy_ref": [], "energy_pred": [], "force_ref": [], "force_pred": []}
    final = run_epoch(model, val_set, settings, dtype, collect=parity)
    summary = {"best_epoch": best["epoch"], "elements": elements, **{f"val_{k}": v for k, v in final.items()}}
    with open(os.path.join(out_dir, "metrics.json"), "w") as handle:
        json.dump({"summary": summary, "history": history}, handle, indent=1)
    from .plots import plot_learning_curve, plot_parity

    plot_learning_curve(history, os.path.join(out_dir, "learning_curve.png"))
    plot_parity({k: np.concatenate(v) if v else np.zeros(0) for k, v in parity.items()}, os.path.join(out_dir, "parity.png"))
    return summary
