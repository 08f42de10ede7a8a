"""Bring models trained with other packages into equipot, with the same weights.

One module per source package; each defines
    load(path)              -> the package's own model object from its saved file
    convert(model, **opts)  -> the equivalent equipot AtomisticModel
and imports the source package only when called, so `import equipot.convert`
never needs the peers installed.

    equipot convert --from torchmd-net epoch=99.ckpt -o checkpoint.pt
writes an equipot checkpoint that `export_model` takes.
"""

import importlib
from typing import Dict

from ..models import AtomisticModel

# source name (as given to --from) -> module in this package
SOURCES: Dict[str, str] = {
    "schnetpack": "schnetpack",
    "torch-geometric": "torch_geometric",
    "torchmd-net": "torchmdnet",
    "fairchem-equiformer-v2": "equiformer_v2",
    "nequip": "nequip",
}


def _source_module(source: str):
    try:
        name = SOURCES[source.lower()]
    except KeyError:
        raise ValueError(f"unknown source '{source}'; available: {', '.join(sorted(SOURCES))}") from None
    return importlib.import_module(f"{__name__}.{name}")


def convert(source: str, model, **options) -> AtomisticModel:
    """The equipot model equivalent to `model`, an object of the package `source`."""
    return _source_module(source).convert(model, **options)


def convert_file(source: str, path: str, **options) -> AtomisticModel:
    """Load a model saved by the package `source` and convert it."""
    module = _source_module(source)
    return module.convert(module.load(path), **options)


def write_checkpoint(model: AtomisticModel, path: str, origin: str = "") -> None:
    """Save `model` as an equipot checkpoint (what `equipot train` writes and
    `export_model` reads)."""
    import torch

    torch.save(
        {
            "architecture": model.architecture,
            "elements": list(model.elements),
            "hyperparameters": model.hyperparameters(),
            "model_state": model.state_dict(),
            "converted_from": origin,
        },
        path,
    )


__all__ = ["SOURCES", "convert", "convert_file", "write_checkpoint"]
