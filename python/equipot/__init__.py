"""equipot: train machine-learned interatomic potentials, export them as frozen
TorchScript files, and run them through one C++ core in Python, LAMMPS and OpenMM."""

__version__ = "0.1.0"

import torch as _torch  # loads libtorch before the C++ core that links it

from . import _core
from ._core import EquipotError

if _torch.__version__.split("+")[0] != _core.TORCH_VERSION.split("+")[0]:
    raise ImportError(
        f"equipot's C++ core was built against torch {_core.TORCH_VERSION} but torch "
        f"{_torch.__version__} is installed; rebuild equipot (pip install --no-build-isolation .)"
    )


def __getattr__(name):
    # The ASE calculator pulls in ASE; import it only when asked for.
    if name == "EquipotCalculator":
        from .calculator import EquipotCalculator

        return EquipotCalculator
    raise AttributeError(name)


__all__ = ["EquipotCalculator", "EquipotError", "__version__"]
