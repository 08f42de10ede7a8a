"""The command line: `equipot` (train, models, convert) and `export_model`.

Kept light on purpose: `--help` and argument errors answer without importing torch
(several seconds); the work is imported only once the arguments are known.
"""

import argparse
import glob
import os
import sys

import yaml

from . import __version__
from .dtypes import DTYPE_NAMES

# export_model's file formats (export/SPEC.md; export.FORMAT_VERSIONS has their versions)
FORMAT_DESCRIPTIONS = {"torchscript": "TorchScript", "aoti": "AOTInductor package"}


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


def read_config(path: str) -> dict:
    """A YAML config, with its data paths made relative to the YAML's own folder (so a
    config works from any directory); `out` stays relative to where you run."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file '{path}' does not exist")
    with open(path) as handle:
        try:
            config = yaml.safe_load(handle) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"config file '{path}' is not valid YAML: {error}") from None
    if not isinstance(config, dict):
        raise ValueError(f"config file '{path}' must hold a mapping (model:, data:, training:, out:)")
    data = config.get("data")
    if isinstance(data, dict):
        folder = os.path.dirname(os.path.abspath(path))
        for key in ("train", "val"):
            if isinstance(data.get(key), str):
                data[key] = os.path.normpath(os.path.join(folder, os.path.expanduser(data[key])))
    return config


def train_command(args) -> int:
    config = read_config(args.config) if args.config else {}
    if args.data:
        config.setdefault("data", {}).update(_data_paths(args.data))
    model = config.setdefault("model", {})
    if args.model:
        model["architecture"] = args.model
    if args.cutoff is not None:
        model["cutoff"] = args.cutoff
    training = config.setdefault("training", {})
    for key in ("epochs", "batch_size", "seed", "threads", "device", "dtype"):
        if getattr(args, key) is not None:
            training[key] = getattr(args, key)
    if args.lr is not None:
        training["learning_rate"] = args.lr
    if args.out:
        config["out"] = args.out

    from .training import train

    summary = train(config, resume=args.resume, progress=not args.quiet)
    out = config.get("out", "runs/equipot")
    errors = [f"{name} MAE {1000 * summary[f'val_{key}_mae']:.3g} {unit}" for key, name, unit in
              (("energy", "energy", "meV/atom"), ("forces", "force", "meV/A"), ("stress", "stress", "meV/A^3"))
              if f"val_{key}_mae" in summary]
    print(f"best epoch {summary['best_epoch']}: validation " + ", ".join(errors))
    print(f"checkpoint: {os.path.join(out, 'checkpoint.pt')}  (export with: export_model {os.path.join(out, 'checkpoint.pt')})")
    return 0


def models_command(args) -> int:
    """Each architecture with its hyperparameters and their defaults (the keys of a
    config's `model:` section)."""
    from .models import ARCHITECTURES

    for name, cls in sorted(ARCHITECTURES.items()):
        paper = " ".join((sys.modules[cls.__module__].__doc__ or "").split("\n\n")[0].split())
        print(f"{name}: {paper}")
        for key, default in cls.hyperparameter_defaults().items():
            print(f"    {key} = {default!r}")
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
    try:
        model = module.convert(module.load(args.file), **options)
    except ImportError as error:  # the source package is not installed here
        raise ValueError(f"converting from {args.source} needs its package importable here: {error}") from error
    write_checkpoint(model, args.output, origin=f"{args.source}:{os.path.abspath(args.file)}")
    print(f"converted {args.source} model '{args.file}' -> {model.architecture}, elements "
          f"{' '.join(model.elements)}, cutoff {model.cutoff:g} A")
    print(f"checkpoint: {args.output}  (export with: export_model {args.output})")
    return 0


DTYPE_HELP = (
    "float64 (default): forces exact to round-off, as long NVE runs and careful free-energy work need; "
    "float32: about 1.5-2x faster, forces to ~1e-6 relative. Training runs in float32 by default (the weights do "
    "not need more); the export can still be float64, which is why the demo trains in float32 and exports float64")


def _parser(prog: str, **kwargs) -> argparse.ArgumentParser:
    # No abbreviations: `--epoch` must be an error, not quietly `--epochs`.
    return argparse.ArgumentParser(prog=prog, allow_abbrev=False, **kwargs)


def _run(prog: str, func, args) -> int:
    """Runs a command; bad input (a missing file, a bad setting, or a rule of the C++
    core such as an unknown element) is one line on stderr and exit status 1."""
    try:
        return func(args)
    except Exception as error:
        core = sys.modules.get("equipot._core")
        if not isinstance(error, (FileNotFoundError, ValueError)) and not (core and isinstance(error, core.EquipotError)):
            raise
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1


def main(argv=None) -> int:
    parser = _parser(
        "equipot",
        description="equipot: train machine-learned interatomic potentials (SchNet, PaiNN, DimeNet++, TensorNet), "
                    "convert models trained with other packages, and export them with `export_model` as one frozen "
                    "file that runs in LAMMPS (pair_style equipot), OpenMM (equipot.openmm.TorchForce) and ASE "
                    "(equipot.EquipotCalculator).",
        epilog="Typical use: equipot train examples/schnet_cuni.yaml, then export_model runs/schnet_cuni/checkpoint.pt. "
               "'equipot COMMAND --help' describes each command.")
    parser.add_argument("--version", action="version", version=f"equipot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser(
        "train", allow_abbrev=False, help="train a model on structures with reference energies, forces and/or stress",
        description="Train a model. Settings come from the YAML config (sections model, data, training, out; see "
                    "examples/schnet_cuni.yaml and 'equipot models' for each architecture's keys), and the options "
                    "below override it. Unknown keys are an error. Data paths in a YAML are relative to the YAML's "
                    "folder; options and 'out' are relative to the current directory.")
    train.add_argument("config", nargs="?", help="YAML config (model, data, training, out); options override it")
    train.add_argument("--data", help="an extxyz/ASE-readable file (split 90/10) or a directory with train.* and val.*")
    train.add_argument("--model", help="architecture: schnet, painn, dimenet++ or tensornet (default schnet)")
    train.add_argument("--cutoff", type=float, help="cutoff radius in Angstrom (default 5)")
    train.add_argument("--epochs", type=int, help="number of epochs (default 100)")
    train.add_argument("--batch-size", dest="batch_size", type=int, help="structures per batch (default 8)")
    train.add_argument("--lr", type=float, help="initial learning rate (default 1e-3)")
    train.add_argument("--seed", type=int, help="random seed for the split, the weights and the batch order "
                       "(default 0); the same seed on the same machine and threads gives the same run bit for bit")
    train.add_argument("--threads", type=int, help="CPU threads for torch (default: one per core, or OMP_NUM_THREADS "
                       "when set); set it when other jobs share the machine")
    train.add_argument("--device", help="cpu (default), cuda or cuda:N")
    train.add_argument("--dtype", choices=DTYPE_NAMES, help="precision of training (default float32)")
    train.add_argument("--out", help="output directory (checkpoint.pt, last.pt, plots, metrics.json; "
                       "default runs/equipot)")
    train.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    train.add_argument("--quiet", action="store_true", help="print only warnings and the final result")
    train.set_defaults(func=train_command)
    models = commands.add_parser("models", help="list the architectures and their hyperparameters with defaults")
    models.set_defaults(func=models_command)
    convert = commands.add_parser(
        "convert", allow_abbrev=False, help="turn a model trained with another package into an equipot checkpoint",
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
    return _run("equipot", args.func, args)


def export_command(args) -> int:
    from . import _core
    from .export import export_model, load_checkpoint, model_from_checkpoint, sha256_of

    checkpoint = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(checkpoint)
    default_name = "model.pt2" if args.format == "aoti" else "model.pt"
    output = args.output or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), default_name)
    if args.cpu is not None and args.format != "aoti":
        raise ValueError("--cpu applies to --format aoti only (TorchScript files run on any CPU)")
    metadata = export_model(model, output, args.dtype, sha256_of(args.checkpoint), args.format, args.cpu)
    _core.Model(output)  # the C++ core must accept what we wrote
    num_parameters = sum(p.numel() for p in model.parameters())
    print(f"wrote {output}")
    print(f"  architecture  {metadata['architecture']}")
    print(f"  elements      {metadata['elements']}")
    print(f"  cutoff        {float(metadata['cutoff']):g} A")
    print(f"  layers        {metadata['num_layers']} (receptive field {model.num_layers * model.cutoff:g} A)")
    print(f"  parameters    {num_parameters:,}")
    print(f"  dtype         {metadata['dtype']}")
    print(f"  format        {FORMAT_DESCRIPTIONS[args.format]} (format version {metadata['equipot_format_version']})")
    return 0


def export_main(argv=None) -> int:
    """The `export_model` command."""
    parser = _parser("export_model", description="Export an equipot training checkpoint as one frozen "
                     "model file for LAMMPS (pair_coeff * * model.pt ...), OpenMM (TorchForce('model.pt')) and ASE "
                     "(EquipotCalculator('model.pt')).")
    parser.add_argument("checkpoint", help="checkpoint.pt written by 'equipot train' or 'equipot convert'")
    parser.add_argument("-o", "--output", default=None, help="model file to write (default: model.pt beside the "
                        "checkpoint)")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float64", help=DTYPE_HELP)
    parser.add_argument("--format", choices=sorted(FORMAT_DESCRIPTIONS), default="torchscript",
                        help="torchscript (default): a TorchScript archive, written in seconds, runs anywhere libtorch "
                        "does; aoti: the model and its forces compiled ahead of time to native code for this kind of "
                        "machine (an AOTInductor .pt2 package; takes a minute and a C++ compiler to export; measured "
                        "faster for some models in float64 and for small systems, slower in float32 at hundreds of "
                        "atoms and more: benchmarks/RESULTS.md)")
    parser.add_argument("--cpu", choices=("native", "avx2", "generic"), default=None,
                        help="with --format aoti: the CPUs the compiled code runs on. native (default): this machine's "
                        "widest vector instructions (a machine without them refuses the file); avx2: any x86-64 CPU "
                        "since about 2015 (export on a login node, run on other nodes); generic: any CPU of this "
                        "architecture, unvectorised")
    parser.add_argument("--version", action="version", version=f"equipot {__version__}")
    return _run("export_model", export_command, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
