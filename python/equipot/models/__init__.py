"""Architectures, each in its own file, and a registry to build them by name."""

from typing import Dict, List, Optional, Type

import torch

from ..dtypes import default_dtype
from .base import AtomisticModel
from .dimenet import DimeNetPlusPlus
from .equiformer_v2 import EquiformerV2
from .nequip import NequIP
from .painn import PaiNN
from .schnet import SchNet
from .tensornet import TensorNet

ARCHITECTURES: Dict[str, Type[AtomisticModel]] = {
    cls.architecture: cls for cls in (SchNet, PaiNN, DimeNetPlusPlus, TensorNet, NequIP, EquiformerV2)
}


def build_model(architecture: str, elements: List[str], dtype: Optional[torch.dtype] = None,
                **hyperparameters) -> AtomisticModel:
    """The architecture's model, built in `dtype` (default: torch's default dtype), so
    that the constants it computes when built are exact in that dtype."""
    try:
        cls = ARCHITECTURES[architecture.lower()]
    except KeyError:
        raise ValueError(
            f"unknown architecture '{architecture}'; available: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    with default_dtype(dtype if dtype is not None else torch.get_default_dtype()):
        return cls(elements, **hyperparameters).to(torch.get_default_dtype())


__all__ = ["ARCHITECTURES", "AtomisticModel", "DimeNetPlusPlus", "EquiformerV2", "NequIP", "PaiNN", "SchNet", "TensorNet", "build_model"]
