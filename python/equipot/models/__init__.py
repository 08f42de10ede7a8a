"""Architectures, each in its own file, and a registry to build them by name."""

from typing import Dict, List, Type

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


def build_model(architecture: str, elements: List[str], **hyperparameters) -> AtomisticModel:
    try:
        cls = ARCHITECTURES[architecture.lower()]
    except KeyError:
        raise ValueError(
            f"unknown architecture '{architecture}'; available: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    return cls(elements, **hyperparameters)


__all__ = ["ARCHITECTURES", "AtomisticModel", "DimeNetPlusPlus", "EquiformerV2", "NequIP", "PaiNN", "SchNet", "TensorNet", "build_model"]
