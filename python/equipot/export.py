"""export_model: turn a training checkpoint into a frozen model file.

Two formats (export/SPEC.md), both carrying the same metadata so that the C++ core can
validate a model before using it:
- version 1, TorchScript: forward(species, edge_index, edge_vectors) -> per-atom
  energies; the caller takes forces from autograd;
- version 2, an AOTInductor package (.pt2): the model and its gradient compiled ahead of
  time to native code, returning per-atom energies and the edge gradients in one call.
"""

import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import warnings
import zipfile
from typing import Dict, Optional, Tuple

import torch

from . import __version__
from .dtypes import torch_dtype
from .models import AtomisticModel, build_model

# The format version each file format is written with (export/SPEC.md).
FORMAT_VERSIONS = {"torchscript": 1, "aoti": 2}
FORMAT_VERSION = max(FORMAT_VERSIONS.values())  # the newest this package writes
UNITS = "eV/Angstrom"
# Stored as TorchScript extra files (export/SPEC.md). The exporter writes these and the
# C++ core reads its own list (metadata_keys); a test keeps the two equal, so that
# exporting needs no compiled module.
METADATA_KEYS = ("equipot_format_version", "architecture", "hyperparameters", "elements", "cutoff", "num_layers",
                 "units", "dtype", "equipot_version", "checkpoint_sha256")


def describe_exported(path: str) -> Optional[str]:
    """If `path` is a TorchScript archive (a model already exported), what it is."""
    try:
        extra = package_metadata(path)
        if extra is None:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                if not any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
                    return None
                extra = {n.rsplit("/", 1)[-1]: archive.read(n).decode(errors="replace")
                         for n in names if "/extra/" in n}
    except (zipfile.BadZipFile, OSError, StopIteration, ValueError):
        return None
    if extra.get("equipot_format_version"):
        return (f"an equipot model already exported by export_model ({extra.get('architecture', '?')}, elements "
                f"{extra.get('elements', '?')}, {extra.get('dtype', '?')}). It needs no export: use it as it is in "
                f"LAMMPS (pair_coeff * * {path} ...), OpenMM (TorchForce('{path}')) or ASE "
                f"(EquipotCalculator('{path}'))")
    return "a TorchScript module (torch.jit.save), not an equipot training checkpoint"


def package_metadata(path: str) -> Optional[Dict[str, str]]:
    """The metadata of an AOTInductor package (format 2: the `_metadata.json` record
    beside its compiled model, equipot's keys and AOTInductor's own), or None if `path`
    is a zip archive but no package. Read as text: the compiled code is not loaded."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if not any("/aotinductor/" in n for n in names):
            return None
        return json.loads(archive.read(next(n for n in names if n.endswith("_metadata.json"))))


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


def metadata_of(model: AtomisticModel, dtype: str, checkpoint_sha256: str = "",
                file_format: str = "torchscript") -> Dict[str, str]:
    return {
        "equipot_format_version": str(FORMAT_VERSIONS[file_format]),
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


def for_export(model: AtomisticModel, dtype: str) -> AtomisticModel:
    """A copy of `model` for export: rebuilt in `dtype` (exact constants), eval mode, no
    parameter gradients. The caller's model is left alone."""
    model = rebuilt_in(model, torch_dtype(dtype)).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def freeze(model: AtomisticModel, dtype: str = "float64") -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        return torch.jit.freeze(for_export(model, dtype).script())


class EnergiesAndEdgeGradients(torch.nn.Module):
    """The function a format-2 file holds (export/SPEC.md): per-atom energies e and
    g = d(sum_i w_i e_i)/d edge_vectors in one call, w the caller's energy weights (1 for
    the atoms whose energy it sums, 0 for ghosts). Compiled with its backward pass, so no
    autograd runs at simulation time."""

    def __init__(self, model: AtomisticModel):
        super().__init__()
        self.model = model

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor, edge_vectors: torch.Tensor,
                energy_weights: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            edge_vectors = edge_vectors.detach().requires_grad_(True)
            energies = self.model(species, edge_index, edge_vectors)
            (gradients,) = torch.autograd.grad([(energies * energy_weights).sum()], [edge_vectors])
        return energies.detach(), gradients


def example_graph(model: AtomisticModel, cells: Tuple[int, int, int], dtype: torch.dtype, seed: int,
                  isolated_atom: bool = False):
    """(species, edge_index, edge_vectors, energy_weights) of a jittered simple cubic
    cluster with spacing 0.55 cutoff (each atom has 6-26 neighbours), every element
    present, optionally one more atom far from all others (no edges), and the last
    atom's energy weight 0 (a ghost)."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.stack(torch.meshgrid(*[torch.arange(n, dtype=torch.float64) for n in cells], indexing="ij"), -1)
    positions = grid.reshape(-1, 3) * 0.55 * model.cutoff
    positions = positions + 0.05 * model.cutoff * torch.randn(positions.shape, generator=generator, dtype=torch.float64)
    if isolated_atom:
        positions = torch.cat([positions, positions.max(0).values.unsqueeze(0) + 3.0 * model.cutoff])
    num_atoms = positions.shape[0]
    species = torch.randperm(num_atoms, generator=generator) % len(model.elements)
    vectors = positions.unsqueeze(0) - positions.unsqueeze(1)  # [i, j] = r_j - r_i
    close = (vectors.norm(dim=-1) < model.cutoff) & ~torch.eye(num_atoms, dtype=torch.bool)
    edge_index = close.nonzero().t().contiguous()
    weights = torch.ones(num_atoms, dtype=dtype)
    weights[-1] = 0.0
    return species, edge_index, vectors[close].to(dtype), weights


def require_cpp_compiler() -> str:
    """The C++ compiler AOTInductor will use ($CXX, else g++), or a RuntimeError saying
    that exporting this format needs one. (Looked up here each time: torch caches its own
    search for the life of the process.)"""
    name = os.environ.get("CXX") or "g++"
    compiler = shutil.which(name)
    if compiler is None:
        raise RuntimeError(
            f"export_model --format aoti compiles the model to native code and needs a C++ compiler, and '{name}' "
            f"({'$CXX' if os.environ.get('CXX') else 'the default, as $CXX is not set'}) was not found. Install one "
            "(e.g. apt install g++) or set CXX, or export with --format torchscript, which needs none.")
    return compiler


# The CPUs a package's native code can target (export_model --cpu): the instruction
# set, as the vector width AOTInductor generates code for (None: the widest this CPU has).
CPU_TARGETS = {"native": None, "avx2": 256, "generic": 1}


def compile_aoti(model: AtomisticModel, dtype: str, path: str, metadata: Dict[str, str], cpu: str = "native") -> None:
    """Compile `model` (the function of EnergiesAndEdgeGradients) with AOTInductor into
    the package `path`, for any number of atoms and edges and for the CPUs named by `cpu`
    (CPU_TARGETS), and check the package against the model on a structure of another size
    before writing it.

    The model is traced with make_fx at the ATen level, which records autograd's backward
    ops (torch.export alone would keep autograd.grad as one opaque call), with symbolic
    sizes that are not merged when equal (`use_duck_shape`: a number of atoms that happens
    to equal a feature size must stay a free size); then exported and compiled."""
    from torch._decomp import core_aten_decompositions
    from torch.fx.experimental import _config as fx_config
    from torch.fx.experimental.proxy_tensor import make_fx

    if cpu not in CPU_TARGETS:
        raise ValueError(f"unknown CPU target '{cpu}': use one of {', '.join(CPU_TARGETS)}")
    if cpu == "avx2" and platform.machine().lower() not in ("x86_64", "amd64"):
        raise ValueError(f"--cpu avx2 is for x86-64 machines; this one is {platform.machine()}: use native or generic")
    require_cpp_compiler()
    wrapped = EnergiesAndEdgeGradients(for_export(model, dtype))
    torch_type = torch_dtype(dtype)
    example = example_graph(model, (3, 3, 3), torch_type, seed=0)
    duck_shapes = fx_config.use_duck_shape
    fx_config.use_duck_shape = False
    try:
        traced = make_fx(wrapped, decomposition_table=core_aten_decompositions(), tracing_mode="symbolic",
                         _allow_non_fake_inputs=True, _error_on_data_dependent_ops=True)(*example)
    finally:
        fx_config.use_duck_shape = duck_shapes
    atoms, edges = torch.export.Dim("num_atoms", min=1), torch.export.Dim("num_edges", min=0)
    exported = torch.export.export(traced, example, dynamic_shapes=({0: atoms}, {1: edges}, {0: edges}, {0: atoms}))
    configs = {"aot_inductor.metadata": metadata,
               # kernels for whatever number of threads the simulation runs with, not
               # the exporting process's
               "cpp.dynamic_threads": True,
               "cpp.simdlen": CPU_TARGETS[cpu]}
    with tempfile.TemporaryDirectory() as scratch:
        package = os.path.join(scratch, "model.pt2")  # the compiler insists on .pt2
        torch._inductor.aoti_compile_and_package(exported, package_path=package, inductor_configs=configs)
        check_compiled(wrapped, package, dtype)
        shutil.move(package, path)


def check_compiled(wrapped: EnergiesAndEdgeGradients, package: str, dtype: str) -> None:
    """The compiled package must give the model's energies and gradients on structures
    of other sizes than the one traced: 25 atoms with one that has no edges, 2 atoms,
    and 1 atom (the code generator may have kept a guard or specialisation from the
    example)."""
    compiled = torch._inductor.aoti_load_package(package)
    tolerance = 1e-9 if dtype == "float64" else 1e-4
    for cells, isolated in (((4, 3, 2), True), ((2, 1, 1), False), ((1, 1, 1), False)):
        example = example_graph(wrapped.model, cells, torch_dtype(dtype), seed=1, isolated_atom=isolated)
        where = f"on a structure of {example[0].shape[0]} atoms"
        try:
            results = compiled(*example)
        except Exception as error:  # whatever the compiled code raises
            raise RuntimeError(f"the compiled model fails {where}: {str(error).splitlines()[0]}; export with "
                               "--format torchscript and report this") from None
        for name, got, expected in zip(("energies", "edge gradients"), results, wrapped(*example)):
            if expected.numel() == 0:  # the gradients of a lone atom
                continue
            error = float((got - expected).abs().max() / expected.abs().max().clamp(min=1.0))
            if not error <= tolerance:
                raise RuntimeError(f"the compiled model's {name} differ from the model's by {error:.2e} (relative) "
                                   f"{where}: the compiler specialised on the traced example; export with "
                                   "--format torchscript and report this")


def export_model(model: AtomisticModel, path: str, dtype: str = "float64", checkpoint_sha256: str = "",
                 file_format: str = "torchscript", cpu: Optional[str] = None) -> Dict:
    """Write `model` as a model file of `file_format` ("torchscript" or "aoti", for the
    CPUs `cpu` of CPU_TARGETS, default native); returns its metadata."""
    if file_format not in FORMAT_VERSIONS:
        raise ValueError(f"unknown model file format '{file_format}': use one of {', '.join(FORMAT_VERSIONS)}")
    if cpu is not None and file_format != "aoti":
        raise ValueError(f"a CPU target (cpu='{cpu}') applies to the aoti format only; TorchScript files run on any CPU")
    metadata = metadata_of(model, dtype, checkpoint_sha256, file_format)
    if file_format == "aoti":
        compile_aoti(model, dtype, path, metadata, cpu or "native")
    else:
        torch.jit.save(freeze(model, dtype), path, _extra_files=metadata)
    return metadata


def read_metadata(path: str) -> Dict[str, str]:
    """Metadata of a model file (either format), read without the C++ core."""
    stored = package_metadata(path) if zipfile.is_zipfile(path) else None
    if stored is not None:
        return {key: stored.get(key, "") for key in METADATA_KEYS}
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
