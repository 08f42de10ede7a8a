"""The `equipot` command: `equipot train [config.yaml] [--data ... --model ...]`."""

import argparse
import glob
import os
import sys

import yaml


def _data_paths(path: str):
    """A file is split into train/validation; a directory supplies train.* and val.*."""
    if os.path.isdir(path):
        train = sorted(glob.glob(os.path.join(path, "train.*")))
        val = sorted(glob.glob(os.path.join(path, "val.*")))
        if not train:
            raise ValueError(f"directory '{path}' has no train.* file")
        return {"train": train[0], "val": val[0] if val else None}
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file '{path}' does not exist")
    return {"train": path, "val": None}


def train_command(args) -> int:
    from .training import train

    config = {}
    if args.config:
        with open(args.config) as handle:
            config = yaml.safe_load(handle) or {}
    if args.data:
        config.setdefault("data", {}).update(_data_paths(args.data))
    model = config.setdefault("model", {})
    if args.model:
        model["architecture"] = args.model
    if args.cutoff is not None:
        model["cutoff"] = args.cutoff
    training = config.setdefault("training", {})
    for key in ("epochs", "batch_size"):
        if getattr(args, key) is not None:
            training[key] = getattr(args, key)
    if args.lr is not None:
        training["learning_rate"] = args.lr
    if args.out:
        config["out"] = args.out
    summary = train(config, resume=args.resume, progress=not args.quiet)
    out = config.get("out", "runs/equipot")
    print(
        f"best epoch {summary['best_epoch']}: validation energy MAE "
        f"{1000 * summary['val_energy_mae']:.2f} meV/atom"
        + (f", force MAE {1000 * summary['val_forces_mae']:.1f} meV/A" if "val_forces_mae" in summary else "")
    )
    print(f"checkpoint: {os.path.join(out, 'checkpoint.pt')}  (export with: export_model {os.path.join(out, 'checkpoint.pt')})")
    return 0


def models_command(args) -> int:
    """Each architecture with its hyperparameters and their defaults (the keys of a
    config's `model:` section)."""
    import inspect

    from .models import ARCHITECTURES

    for name, cls in sorted(ARCHITECTURES.items()):
        paper = " ".join((sys.modules[cls.__module__].__doc__ or "").split("\n\n")[0].split())
        print(f"{name}: {paper}")
        for parameter in list(inspect.signature(cls.__init__).parameters.values())[2:]:
            print(f"    {parameter.name} = {parameter.default!r}")
    return 0


def convert_command(args) -> int:
    import inspect

    from .convert import _source_module, write_checkpoint

    module = _source_module(args.source)
    options = {}
    if args.elements:
        options["elements"] = [e.strip() for e in args.elements.replace(",", " ").split()]
    if args.cutoff is not None:
        options["cutoff"] = args.cutoff
    accepted = inspect.signature(module.convert).parameters
    for key in options:
        if key not in accepted:
            raise ValueError(f"--{key} does not apply to {args.source} models (they record it themselves)")
    model = module.convert(module.load(args.file), **options)
    write_checkpoint(model, args.output, origin=f"{args.source}:{os.path.abspath(args.file)}")
    print(f"converted {args.source} model '{args.file}' -> {model.architecture}, elements "
          f"{' '.join(model.elements)}, cutoff {model.cutoff:g} A")
    print(f"checkpoint: {args.output}  (export with: export_model {args.output})")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="equipot", description="Train and export machine-learned interatomic potentials.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model on structures with reference energies and forces")
    train.add_argument("config", nargs="?", help="YAML config (model, data, training, out); flags override it")
    train.add_argument("--data", help="an extxyz/ASE-readable file (split 90/10) or a directory with train.* and val.*")
    train.add_argument("--model", help="architecture, e.g. schnet")
    train.add_argument("--cutoff", type=float, help="cutoff radius in Angstrom")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", dest="batch_size", type=int)
    train.add_argument("--lr", type=float, help="initial learning rate")
    train.add_argument("--out", help="output directory (checkpoint.pt, plots, metrics.json)")
    train.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=train_command)
    models = commands.add_parser("models", help="list the architectures and their hyperparameters with defaults")
    models.set_defaults(func=models_command)
    convert = commands.add_parser(
        "convert", help="turn a model trained with another package into an equipot checkpoint",
        description="Convert a model trained with another package into an equipot checkpoint with the same "
                    "weights. What each source needs: schnetpack: --elements (required); torch-geometric "
                    "(SchNet, DimeNet++): --elements (required), --cutoff (required for a DimeNet++ state dict, "
                    "read from the model otherwise); torchmd-net: --elements optional (default: every element "
                    "its embedding covers).")
    convert.add_argument("file", help="the other package's saved model (schnetpack model file, torch-geometric "
                         "model or state dict, torchmd-net .ckpt)")
    convert.add_argument("--from", dest="source", required=True,
                         help="the package that wrote FILE: schnetpack, torch-geometric or torchmd-net")
    convert.add_argument("--elements", help="comma-separated element symbols the model was trained on, e.g. Cu,Ni "
                         "(needed when FILE does not record them: schnetpack and torch-geometric models; optional "
                         "for torchmd-net)")
    convert.add_argument("--cutoff", type=float, help="cutoff radius in Angstrom, for files that do not record it: "
                         "torch-geometric DimeNet++ state dicts (required); torch-geometric SchNet (optional, checked "
                         "against the model); not accepted by schnetpack and torchmd-net")
    convert.add_argument("-o", "--output", default="checkpoint.pt", help="equipot checkpoint to write")
    convert.set_defaults(func=convert_command)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"equipot: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
