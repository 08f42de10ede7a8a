"""Activation functions, and a registry so that models and configs name them."""

import math
from typing import Callable, Dict

import torch
from torch import nn


def shifted_softplus(x: torch.Tensor) -> torch.Tensor:
    """ln(1 + e^x) - ln 2: smooth, and zero at x = 0 (SchNet)."""
    return nn.functional.softplus(x) - math.log(2.0)


class ShiftedSoftplus(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shifted_softplus(x)


# Smooth activations only: a kink (ReLU) would make forces discontinuous.
ACTIVATIONS: Dict[str, Callable[[], nn.Module]] = {
    "ssp": ShiftedSoftplus,
    "shifted_softplus": ShiftedSoftplus,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


def activation(name: str) -> nn.Module:
    """A new activation module by name (see ACTIVATIONS)."""
    try:
        return ACTIVATIONS[name.lower()]()
    except KeyError:
        raise ValueError(f"unknown activation '{name}'; available: {', '.join(sorted(ACTIVATIONS))}") from None
