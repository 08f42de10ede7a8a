"""export_model: turn a training checkpoint into a frozen TorchScript model file.

The file follows export/SPEC.md: forward(species, edge_index, edge_vectors) ->
per-atom energies, with the metadata stored as TorchScript extra files so that the
C++ core can validate a model before using it.
"""

import hashlib
import json
import os
import sys
import warnings
import zipfile
from typing import Dict, Optional

import torch

from . import __version__
from .dtypes import torch_dtype
from .models import AtomisticModel, build_model

FORMAT_VERSION = 1
UNITS = "eV/Angstrom"
# Stored as TorchScript extra files (export/SPEC.md). The exporter writes these and the
# C++ core reads its own list (metadata_keys); a test keeps the two equal, so that
# exporting needs no compiled module.
METADATA_KEYS = ("equipot_format_version", "architecture", "hyperparameters", "elements", "cutoff", "num_layers",
                 "units", "dtype", "equipot_version", "checkpoint_sha256")


def describe_exported(path: str) -> Optional[str]:
    """If `path` is a TorchScript archive (a model already exported), what it is."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
                return None
            extra = {n.rsplit("/", 1)[-1]: archive.read(n).decode(errors="replace")
                     for n in names if "/extra/" in n}
    except (zipfile.BadZipFile, OSError):
        return None
    if extra.get("equipot_format_version"):
        return (f"an equipot model already exported by export_model ({extra.get('architecture', '?')}, elements "
                f"{extra.get('elements', '?')}, {extra.get('dtype', '?')}). It needs no export: use it as it is in "
                f"LAMMPS (pair_coeff * * {path} ...), OpenMM (TorchForce('{path}')) or ASE "
                f"(EquipotCalculator('{path}'))")
    return "a TorchScript module (torch.jit.save), not an equipot training checkpoint"


def load_checkpoint(path: str) -> Dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    exported = describe_exported(path)
    if exported:
        raise ValueError(
            f"'{path}' is {exported}. export_model takes the checkpoint.pt written by 'equipot train' or "
            "'equipot convert'."
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for damaged archives
        raise ValueError(f"checkpoint '{path}' cannot be read (corrupt or truncated?): {error}") from None
    missing = [k for k in ("architecture", "elements", "hyperparameters", "model_state") if k not in checkpoint] \
        if isinstance(checkpoint, dict) else ["everything: it holds a " + type(checkpoint).__name__]
    if missing:
        raise ValueError(f"'{path}' is not an equipot checkpoint (missing {', '.join(missing)})")
    return checkpoint


def model_from_checkpoint(checkpoint: Dict) -> AtomisticModel:
    # In the checkpoint's own dtype: loading float64 weights into a float32 model would
    # round them (a converted float64 model would come back changed).
    floating = [t for t in checkpoint["model_state"].values() if torch.is_floating_point(t)]
    model = build_model(checkpoint["architecture"], checkpoint["elements"],
                        dtype=floating[0].dtype if floating else None, **checkpoint["hyperparameters"])
    model.load_state_dict(checkpoint["model_state"])
    return model


def metadata_of(model: AtomisticModel, dtype: str, checkpoint_sha256: str = "") -> Dict[str, str]:
    return {
        "equipot_format_version": str(FORMAT_VERSION),
        "architecture": model.architecture,
        "hyperparameters": json.dumps(model.hyperparameters(), sort_keys=True),
        "elements": " ".join(model.elements),
        "cutoff": repr(float(model.cutoff)),
        "num_layers": str(model.num_layers),
        "units": UNITS,
        "dtype": dtype,
        "equipot_version": __version__,
        "checkpoint_sha256": checkpoint_sha256,
    }


def rebuilt_in(model: AtomisticModel, dtype: torch.dtype) -> AtomisticModel:
    """`model`'s architecture built anew in `dtype`, with `model`'s weights: constants
    computed at construction (basis centres, Clebsch-Gordan tables, grids) are then
    exact in that dtype, also when the weights were trained in float32 (`.to(dtype)`
    would widen float32 constants). What export_model runs."""
    rebuilt = build_model(model.architecture, model.elements, dtype=dtype, **model.hyperparameters())
    rebuilt.load_state_dict(model.state_dict())
    return rebuilt


def freeze(model: AtomisticModel, dtype: str = "float64") -> torch.jit.ScriptModule:
    model = rebuilt_in(model, torch_dtype(dtype)).eval()  # the caller's model is left alone
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        return torch.jit.freeze(model.script())


def export_model(model: AtomisticModel, path: str, dtype: str = "float64", checkpoint_sha256: str = "") -> Dict:
    """Write `model` as a frozen model file; returns its metadata."""
    metadata = metadata_of(model, dtype, checkpoint_sha256)
    frozen = freeze(model, dtype)
    torch.jit.save(frozen, path, _extra_files=metadata)
    return metadata


def read_metadata(path: str) -> Dict[str, str]:
    """Metadata of a model file, read without the C++ core."""
    extra = {key: "" for key in METADATA_KEYS}
    torch.jit.load(path, _extra_files=extra)
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in extra.items()}


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv=None) -> int:
    from .cli import export_main  # the command line lives with the others, light to import

    return export_main(argv)


if __name__ == "__main__":
    sys.exit(main())
