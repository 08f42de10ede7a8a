"""Learning-curve and parity plots written at the end of training."""

from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# label -> (title, unit of the values, factor to the plotted unit, plotted unit)
QUANTITIES = {
    "energy": ("energy", "eV/atom", 1000, "meV/atom"),
    "forces": ("force component", "eV/Å", 1000, "meV/Å"),
    "stress": ("stress component", "eV/Å³", 1000, "meV/Å³"),
}


def plot_learning_curve(history: List[Dict], best_epoch: int, path: str):
    """Loss (left) and validation MAE of each fitted label (right) per epoch; the
    dotted line marks the best epoch, whose weights are in checkpoint.pt."""
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].semilogy(epochs, [h["train_loss"] for h in history], label="train")
    axes[0].semilogy(epochs, [h["val_loss"] for h in history], label="validation")
    axes[0].set(xlabel="epoch", ylabel="loss (weighted sum of squared errors)", title="loss")
    for label, (title, _, factor, unit) in QUANTITIES.items():
        key = f"val_{label}_mae"
        if any(key in h for h in history):
            axes[1].semilogy(epochs, [factor * h.get(key, np.nan) for h in history], label=f"{title} ({unit})")
    axes[1].set(xlabel="epoch", ylabel="validation MAE (unit in legend)", title="validation errors")
    for ax in axes:
        ax.axvline(best_epoch, color="gray", ls=":", lw=1, label=f"best epoch ({best_epoch})")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_parity(values: Dict[str, np.ndarray], path: str):
    """Model vs reference on the validation set, one panel per fitted label."""
    panels = [label for label in QUANTITIES if len(values.get(f"{label}_ref", ()))]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5 * max(len(panels), 1), 4.5), squeeze=False)
    for ax, label in zip(axes[0], panels):
        title, unit, factor, small_unit = QUANTITIES[label]
        ref, pred = values[f"{label}_ref"], values[f"{label}_pred"]
        ax.scatter(ref, pred, s=4, alpha=0.5)
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        error = ref - pred
        ax.set(xlabel=f"reference {title} ({unit})", ylabel=f"model {title} ({unit})",
               title=f"validation MAE {factor * np.abs(error).mean():.3g}, "
                     f"RMSE {factor * np.sqrt((error ** 2).mean()):.3g} {small_unit}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
