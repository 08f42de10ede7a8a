"""The floating-point precisions a model trains, exports and runs in: one table for
the command line (which must not import torch), training and export. The C++ core
reads the same names from a model file's `dtype` metadata (export/SPEC.md)."""

import contextlib

DTYPE_NAMES = ("float32", "float64")


def torch_dtype(name: str):
    """torch.float32 or torch.float64 for "float32" or "float64"; ValueError otherwise."""
    import torch

    if name not in DTYPE_NAMES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPE_NAMES)}, got '{name}'")
    return getattr(torch, name)


@contextlib.contextmanager
def default_dtype(dtype):
    """torch's default dtype set to `dtype` (a torch dtype) inside the block. Models are
    built in the dtype they will run in: constants computed at construction (Clebsch-
    Gordan tables, grids, basis normalisations) are then exact in that dtype, not
    float32 values widened later."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)
