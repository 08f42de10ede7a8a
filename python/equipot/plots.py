"""Learning-curve and parity plots written at the end of training."""

from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_learning_curve(history: List[Dict], path: str):
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].semilogy(epochs, [h["train_loss"] for h in history], label="train")
    axes[0].semilogy(epochs, [h["val_loss"] for h in history], label="validation")
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0].legend()
    axes[1].semilogy(epochs, [1000 * h["val_energy_mae"] for h in history], label="energy MAE (meV/atom)")
    if "val_forces_mae" in history[0]:
        axes[1].semilogy(epochs, [1000 * h["val_forces_mae"] for h in history], label="force MAE (meV/Å)")
    axes[1].set(xlabel="epoch", title="validation errors")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_parity(values: Dict[str, np.ndarray], path: str):
    panels = [("energy", "energy", "eV/atom")]
    if len(values["force_ref"]):
        panels.append(("force", "force component", "eV/Å"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
    for ax, (name, quantity, unit) in zip(axes[0], panels):
        label = f"{quantity} ({unit})"
        ref, pred = values[f"{name}_ref"], values[f"{name}_pred"]
        ax.scatter(ref, pred, s=4, alpha=0.5)
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        mae = np.abs(ref - pred).mean()
        ax.set(xlabel=f"reference {label}", ylabel=f"model {label}", title=f"validation, MAE {1000 * mae:.3g} m{unit}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
