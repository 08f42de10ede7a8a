"""The floating-point precisions a model trains, exports and runs in: one table for
the command line (which must not import torch), training and export. The C++ core
reads the same names from a model file's `dtype` metadata (export/SPEC.md)."""

DTYPE_NAMES = ("float32", "float64")


def torch_dtype(name: str):
    """torch.float32 or torch.float64 for "float32" or "float64"; ValueError otherwise."""
    import torch

    if name not in DTYPE_NAMES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPE_NAMES)}, got '{name}'")
    return getattr(torch, name)
