"""Training: energy + force (+ stress) loss, per-element reference energies by least
squares, Adam with a plateau learning-rate schedule, validation every epoch,
best-model selection, resumable checkpoints, learning-curve and parity plots."""

import copy
import difflib
import json
import math
import os
import random
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from .data import Structure, collate, elements_in, predict, read_structures, structure_from_atoms
from .dtypes import DTYPE_NAMES, torch_dtype
from .models import build_model

DEFAULT_CONFIG: Dict = {
    "model": {"architecture": "schnet", "cutoff": 5.0},  # + the architecture's hyperparameters
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
        "device": "cpu",
        "threads": None,  # None: torch's default, one per core (or OMP_NUM_THREADS when set)
        "max_minutes": None,
    },
    "out": "runs/equipot",
}
# Settings whose default is None, and the types they take otherwise.
OPTIONAL_TYPES = {("data", "train"): str, ("data", "val"): str, ("training", "threads"): int,
                  ("training", "max_minutes"): float}
LABELS = ("energy", "forces", "stress")
WEIGHT_OF = {"energy": "energy_weight", "forces": "force_weight", "stress": "stress_weight"}  # setting per label


class ConfigError(ValueError):
    """A setting that does not exist or has the wrong type or value."""


def _unknown_key(key: str, valid, where: str) -> ConfigError:
    close = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"unknown key '{key}' in {where}{hint}; valid keys: {', '.join(sorted(valid))}")


def _check_type(where: str, key: str, value, expected: type):
    if value is None:
        return
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
    if expected is float:  # an int is a fine float
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(f"{where}.{key} must be {expected.__name__}, got {value!r}")


def model_keys(architecture: str) -> Dict:
    """The keys of a config's model: section for `architecture`, with defaults."""
    from .models import ARCHITECTURES

    name = str(architecture).lower()
    if name not in ARCHITECTURES:
        raise _unknown_key(architecture, ARCHITECTURES, "the architectures (model.architecture)")
    return {"architecture": name, **ARCHITECTURES[name].hyperparameter_defaults()}


def check_config(config: Dict):
    """Refuses unknown keys (naming the nearest valid one) and values of the wrong type,
    so that a misspelt setting never falls back to its default in silence."""
    if not isinstance(config, dict):
        raise ConfigError(f"a config is a mapping of sections ({', '.join(DEFAULT_CONFIG)}), got {config!r}")
    for section, value in config.items():
        if section not in DEFAULT_CONFIG:
            raise _unknown_key(section, DEFAULT_CONFIG, "the config")
        defaults = DEFAULT_CONFIG[section]
        if not isinstance(defaults, dict):
            _check_type("config", section, value, type(defaults))
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"config section '{section}' must be a mapping of keys, got {value!r}")
        if section == "model":
            defaults = {**model_keys(value.get("architecture", defaults["architecture"])), **defaults}
        for key, item in value.items():
            if key not in defaults:
                raise _unknown_key(key, defaults, f"section '{section}'")
            expected = OPTIONAL_TYPES.get((section, key), type(defaults[key]))
            if section != "model" or defaults[key] is not None:
                _check_type(section, key, item, expected)
    training = config.get("training", {})
    for key in ("epochs", "batch_size", "threads"):
        if training.get(key) is not None and training[key] < (0 if key == "epochs" else 1):
            raise ConfigError(f"training.{key} must be {'>= 0' if key == 'epochs' else 'a positive integer'}, "
                              f"got {training[key]}")
    if training.get("dtype", "float32") not in DTYPE_NAMES:
        raise ConfigError(f"training.dtype must be one of {', '.join(DTYPE_NAMES)}, got {training['dtype']!r}")


def resolve_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}' (use cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device '{name}' (use cpu, cuda or cuda:N)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{name}' requested, but this torch sees no CUDA device "
                              f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'})")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device '{name}' requested, but only {torch.cuda.device_count()} CUDA device(s) "
                              "are visible")
    return device


def merge_config(base: Dict, override: Dict) -> Dict:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def fit_reference_energies(structures: Sequence[Structure], num_elements: int) -> np.ndarray:
    """Per-element energies e_k minimising sum_s (E_s - sum_k n_sk e_k)^2 over the
    frames that have an energy (zeros when none has)."""
    labelled = [s for s in structures if s.energy is not None]
    if not labelled:
        return np.zeros(num_elements)
    counts = np.stack([np.bincount(s.species, minlength=num_elements) for s in labelled]).astype(float)
    energies = np.array([s.energy for s in labelled])
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return solution


def energy_scale_of(structures: Sequence[Structure], references: np.ndarray) -> float:
    """RMS force component (the natural energy/length scale of the data), falling
    back to the spread of per-atom residual energies when there are no forces."""
    forces = [s.forces for s in structures if s.forces is not None]
    if forces:
        scale = float(np.sqrt(np.mean(np.concatenate(forces) ** 2)))
    else:
        residual = [(s.energy - references[s.species].sum()) / s.num_atoms for s in structures if s.energy is not None]
        scale = float(np.std(residual)) if residual else 1.0
    return scale if scale > 1e-8 else 1.0


def mean_num_neighbors(structures: Sequence[Structure]) -> float:
    """Edges per atom over the structures (each edge counted at its centre atom)."""
    atoms = sum(s.num_atoms for s in structures)
    return sum(s.edge_index.shape[1] for s in structures) / atoms if atoms else 0.0


def label_counts(structures: Sequence[Structure]) -> Dict[str, int]:
    """How many frames carry each label."""
    return {label: sum(getattr(s, label) is not None for s in structures) for label in LABELS}


def describe_labels(train_set, val_set, settings) -> Tuple[List[str], List[str]]:
    """What training will fit, said before it starts; warnings for labels that are
    weighted but absent everywhere, or present but not weighted."""
    counts = {"training": label_counts(train_set), "validation": label_counts(val_set)}
    lines = [f"{name} set: {len(frames)} frames; " + ", ".join(f"{label} in {counts[name][label]}"
             for label in LABELS) for name, frames in (("training", train_set), ("validation", val_set))]
    warnings = []
    for label in LABELS:
        weight = settings[WEIGHT_OF[label]]
        if weight > 0 and counts["training"][label] == 0:
            warnings.append(f"no training frame has {label}: the {label} term ({WEIGHT_OF[label]} = {weight:g}) is "
                            "dropped and the model learns nothing from it")
        elif weight == 0 and counts["training"][label] > 0 and label != "stress":
            warnings.append(f"{counts['training'][label]} training frames have {label}, but {WEIGHT_OF[label]} is 0: "
                            f"the {label} are not fitted")
    if settings["stress_weight"] == 0 and counts["training"]["stress"]:
        lines.append(f"stress is present in {counts['training']['stress']} training frames but not fitted "
                     "(stress_weight 0)")
    unlabelled = sum(s.energy is None and s.forces is None and s.stress is None for s in train_set)
    if unlabelled:
        warnings.append(f"{unlabelled} training frames have no energy, forces or stress and teach nothing")
    if not any(counts["training"][label] and settings[WEIGHT_OF[label]] > 0 for label in LABELS):
        raise ValueError("nothing to train on: no training frame has a label (energy, forces, stress) whose weight "
                         "is positive")
    return lines, warnings


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


def batches(structures: Sequence[Structure], batch_size: int, dtype, device, shuffle: bool, rng: random.Random):
    order = list(range(len(structures)))
    if shuffle:
        rng.shuffle(order)
    for start in range(0, len(order), batch_size):
        yield collate([structures[k] for k in order[start : start + batch_size]], dtype).to(device)


def run_epoch(model, structures, settings, dtype, optimizer=None, rng=None, collect=None, device="cpu") -> Dict[str, float]:
    """One pass over `structures`; trains when an optimizer is given. Each loss term
    is the mean over the frames (atoms, for forces) that carry its label, so frames
    with and without forces can share a batch. Per-atom energy errors in eV/atom,
    force errors in eV/A, stress errors in eV/A^3."""
    training = optimizer is not None
    model.train(training)
    fit_forces = settings["force_weight"] > 0 or not training
    fit_stress = settings["stress_weight"] > 0
    metrics = Metrics()
    loss_total, loss_count = 0.0, 0
    for batch in batches(structures, settings["batch_size"], dtype, device, training, rng or random.Random(0)):
        want_forces = bool(fit_forces and batch.force_mask.any())
        want_stress = bool(fit_stress and batch.stress_mask.any())
        out = predict(model, batch, forces=want_forces, stress=want_stress, create_graph=training)
        errors = {}
        if batch.energy_mask.any():
            errors["energy"] = ((out["energy"] - batch.energy) / batch.num_atoms.to(dtype))[batch.energy_mask]
        if want_forces:
            errors["forces"] = (out["forces"] - batch.forces)[batch.force_mask]
        if want_stress:
            errors["stress"] = (out["stress"] - batch.stress)[batch.stress_mask]
        loss = out["energy"].new_zeros(())
        for label, error in errors.items():
            loss = loss + settings[WEIGHT_OF[label]] * (error**2).mean()
            metrics.add(label, error)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {loss.item()} (diverged): lower the learning rate or check the data"
            )
        if training:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if collect is not None:
            per_atom = lambda energy: (energy.detach() / batch.num_atoms)[batch.energy_mask]  # noqa: E731
            collect["energy_ref"].append(per_atom(batch.energy).cpu().numpy())
            collect["energy_pred"].append(per_atom(out["energy"]).cpu().numpy())
            for label, mask in (("forces", batch.force_mask), ("stress", batch.stress_mask)):
                if label in errors:
                    collect[f"{label}_ref"].append(getattr(batch, label)[mask].cpu().numpy().ravel())
                    collect[f"{label}_pred"].append(out[label].detach()[mask].cpu().numpy().ravel())
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
    elements = elements or elements_in(list(train_frames) + list(val_frames))
    cutoff = float(config["model"]["cutoff"])
    to_structures = lambda frames: [structure_from_atoms(a, elements, cutoff) for a in frames]  # noqa: E731
    return elements, to_structures(train_frames), to_structures(val_frames)


def progress_text(metrics: Dict[str, float]) -> str:
    """Validation MAE/RMSE of the labels present, in meV units, for the progress bar."""
    units = {"energy": ("E", "meV/atom"), "forces": ("F", "meV/A"), "stress": ("S", "meV/A^3")}
    return "val MAE/RMSE " + ", ".join(
        f"{short} {1000 * metrics[f'{label}_mae']:.3g}/{1000 * metrics[f'{label}_rmse']:.3g} {unit}"
        for label, (short, unit) in units.items() if f"{label}_mae" in metrics)


def train(config: Dict, resume: bool = False, progress: bool = True) -> Dict:
    """Trains a model as `config` says; returns the final summary (also in
    out/metrics.json). Writes out/checkpoint.pt (best validation loss),
    out/last.pt (for --resume), learning_curve.png and parity.png. With
    progress=False nothing is printed but warnings (on stderr)."""
    check_config(config)
    user_config = config
    config = merge_config(DEFAULT_CONFIG, user_config)
    out_dir = config["out"]
    say = print if progress else (lambda *args, **kwargs: None)
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
    dtype = torch_dtype(settings["dtype"])
    device = resolve_device(settings["device"])
    if settings["threads"]:
        torch.set_num_threads(settings["threads"])  # process-wide: torch has one intra-op pool
    random.seed(settings["seed"])
    torch.manual_seed(settings["seed"])
    rng = random.Random(settings["seed"])

    elements, train_set, val_set = _load_split(config, state["elements"] if state else None)
    lines, warnings = describe_labels(train_set, val_set, settings)
    for line in lines:
        say(line)
    for warning in warnings:
        print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    say(f"training on {device} with {torch.get_num_threads()} thread(s), {settings['dtype']}, seed {settings['seed']}")
    model_config = {k: v for k, v in config["model"].items() if k != "architecture"}
    model = build_model(config["model"]["architecture"], elements, dtype=dtype, **model_config)
    if state:
        model.load_state_dict(state["model_state"])
    else:
        references = fit_reference_energies(train_set, len(elements))
        model.reference_energies.copy_(torch.as_tensor(references))
        model.energy_scale.fill_(energy_scale_of(train_set, references))
        model.set_data_statistics(mean_num_neighbors=mean_num_neighbors(train_set))
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=settings["lr_factor"], patience=settings["lr_patience"], min_lr=settings["min_learning_rate"]
    )
    if state:
        optimizer.load_state_dict(state["optimizer_state"])
        scheduler.load_state_dict(state["scheduler_state"])
        if "learning_rate" in user_config.get("training", {}):
            for group in optimizer.param_groups:
                group["lr"] = settings["learning_rate"]
        history, best, start_epoch = state["history"], state["best"], state["epoch"] + 1
    else:
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
            "model_state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "optimizer_state": optimizer.state_dict(),
            "scheduler_state": scheduler.state_dict(),
            "epoch": epoch,
            "history": history,
            "best": best,
            "warnings": warnings,
        }

    started = time.time()
    epochs = tqdm(range(start_epoch, settings["epochs"]), desc="training", disable=not progress, unit="epoch")
    for epoch in epochs:
        train_metrics = run_epoch(model, train_set, settings, dtype, optimizer, rng, device=device)
        val_metrics = run_epoch(model, val_set, settings, dtype, device=device)
        scheduler.step(val_metrics["loss"])
        record = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - started}
        record.update({f"train_{k}": v for k, v in train_metrics.items()})
        record.update({f"val_{k}": v for k, v in val_metrics.items()})
        history.append(record)
        epochs.set_postfix_str(progress_text(val_metrics))
        improved = val_metrics["loss"] < best["val_loss"]
        if improved:
            best = {"val_loss": val_metrics["loss"], "epoch": epoch, **{f"val_{k}": v for k, v in val_metrics.items()}}
        state = checkpoint(epoch)
        torch.save(state, last_path)
        if improved:
            torch.save(state, best_path)
        if settings["max_minutes"] and time.time() - started > 60 * settings["max_minutes"]:
            break
    if not os.path.isfile(best_path):
        raise ValueError(f"no epoch was trained (training.epochs = {settings['epochs']}), so there is no checkpoint")

    best_state = torch.load(best_path, map_location="cpu", weights_only=False)
    model.load_state_dict(best_state["model_state"])
    parity = {f"{label}_{kind}": [] for label in LABELS for kind in ("ref", "pred")}
    final = run_epoch(model, val_set, settings, dtype, collect=parity, device=device)
    summary = {"best_epoch": best["epoch"], "elements": elements, "labels": label_counts(train_set),
               "warnings": warnings, **{f"val_{k}": v for k, v in final.items()}}
    with open(os.path.join(out_dir, "metrics.json"), "w") as handle:
        json.dump({"summary": summary, "history": history}, handle, indent=1)
    from .plots import plot_learning_curve, plot_parity

    plot_learning_curve(history, best["epoch"], os.path.join(out_dir, "learning_curve.png"))
    plot_parity({k: np.concatenate(v) if v else np.zeros(0) for k, v in parity.items()}, os.path.join(out_dir, "parity.png"))
    return summary
