"""The Python face of the C++ TorchForce: openmm-torch's constructor, getModule(),
and equipot's element / particle-subset arguments."""

import io
import os

import torch

from .. import _core
from .. import openmmplugin as _plugin

TorchForce = _plugin.TorchForce
property_map = _plugin.property_map  # openmm-torch's class for a properties map (str -> str)

KJ_PER_MOL_PER_EV = _core.KJ_PER_MOL_PER_EV
ANGSTROM_PER_NM = _core.ANGSTROM_PER_NM

_raw_init = TorchForce.__init__


def _property_string(key, value):
    if not isinstance(key, str):
        raise TypeError(f"TorchForce property names must be str, got {key!r}")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _topology_elements(topology, atoms):
    """Element symbols of the topology's atoms (all, or those indexed by `atoms`)."""
    topology_atoms = list(topology.atoms())
    indices = range(len(topology_atoms)) if atoms is None else atoms
    symbols = []
    for index in indices:
        if not 0 <= index < len(topology_atoms):
            raise ValueError(f"atom index {index} is out of range: the topology has {len(topology_atoms)} atoms")
        atom = topology_atoms[index]
        if atom.element is None:
            raise ValueError(
                f"atom {index} ({atom.name} in residue {atom.residue.name} {atom.residue.id}) has no element "
                "(a virtual site or extra particle?); leave it out of the model's atoms"
            )
        symbols.append(atom.element.symbol)
    return symbols


def _element_symbols(elements, atoms):
    """elements: an openmm.app.Topology (one element per System particle; `atoms`
    picks the model's atoms) or a sequence with one entry per model atom (symbols,
    openmm.app.Element objects or atomic numbers)."""
    from openmm import app

    if isinstance(elements, app.Topology):
        return _topology_elements(elements, atoms)
    if isinstance(elements, str):
        raise TypeError("elements must be a list of element symbols or a Topology, not a single string")
    symbols = []
    for index, element in enumerate(elements):
        if isinstance(element, app.Element):
            symbols.append(element.symbol)
        elif isinstance(element, str):
            symbols.append(element)
        elif isinstance(element, int):
            try:
                symbols.append(app.Element.getByAtomicNumber(element).symbol)
            except KeyError:
                raise ValueError(f"element {index}: {element} is not an atomic number") from None
        elif element is None:
            raise ValueError(f"element {index} is None (an atom without an element)")
        else:
            raise TypeError(f"element {index}: expected a symbol, an openmm.app.Element or an atomic number, got {element!r}")
    if atoms is not None and len(symbols) != len(atoms):
        raise ValueError(
            f"{len(symbols)} elements were given for {len(atoms)} atoms; with atoms=..., give one element per "
            "model atom (or pass the Topology)"
        )
    return symbols


def _init(self, file, properties=None, elements=None, atoms=None, periodic=None, threads=None):
    """TorchForce(file, properties={}, elements=None, atoms=None, periodic=None, threads=None)

    file: a model file path (an equipot model or an openmm-torch-convention module),
        a torch.jit.ScriptModule, or the bytes of a model file.
    properties: dict (or openmm-torch's property_map); "useCUDAGraphs"
        ("true"/"false"), "CUDAGraphWarmupSteps" and "threads". Any other key is an
        error.
    elements: for equipot models, the element of every atom the model sees: an
        openmm.app.Topology (one atom per System particle; `atoms` picks the model's
        atoms) or a list with one symbol per model atom.
    atoms: indices of the System particles the model sees (ML/MM); default all.
    periodic: sets setUsesPeriodicBoundaryConditions; by default it follows the
        Topology's periodic box when `elements` is a Topology, else False.
    threads: the "threads" property: torch's intra-op thread count, set for the whole
        process when a Context is created (default: torch's own, one per core or
        OMP_NUM_THREADS).
    """
    props = {}
    for key, value in (properties or {}).items():
        props[key] = _property_string(key, value)
    if threads is not None:
        if "threads" in props:
            raise ValueError("TorchForce: threads was given both as a keyword and in properties; give it once")
        props["threads"] = _property_string("threads", threads)
    if isinstance(file, torch.jit.ScriptModule):
        buffer = io.BytesIO()
        torch.jit.save(file, buffer)
        _raw_init(self, buffer.getvalue(), props, "")
    elif isinstance(file, (bytes, bytearray, memoryview)):
        _raw_init(self, bytes(file), props, "")
    elif isinstance(file, (str, os.PathLike)):
        _raw_init(self, os.fspath(file), props, "")
    elif isinstance(file, torch.nn.Module):
        raise TypeError("TorchForce needs a TorchScript module: pass torch.jit.script(module), or a model file")
    else:
        raise TypeError(f"TorchForce: expected a model file path or a torch.jit.ScriptModule, got {type(file).__name__}")
    if atoms is not None:
        atoms = [int(a) for a in atoms]
        self.setParticles(atoms)
    if elements is not None:
        self.setElements(_element_symbols(elements, atoms))
    if periodic is None and elements is not None:
        from openmm import app

        if isinstance(elements, app.Topology):
            periodic = elements.getPeriodicBoxVectors() is not None
    if periodic is not None:
        self.setUsesPeriodicBoundaryConditions(bool(periodic))


def _getModule(self):
    """The model as a torch.jit.ScriptModule (loaded from the bytes the force holds)."""
    data = self.getModelBytes()
    if b"/data/aotinductor/" in data[:65536]:
        raise ValueError("TorchForce.getModule: this force holds a compiled equipot model (format 2, an AOTInductor "
                         "package), not a TorchScript module; load the file with torch._inductor.aoti_load_package")
    return torch.jit.load(io.BytesIO(data), map_location="cpu")


def _repr(self):
    kind = "equipot model " + " ".join(self.getModelElements()) if self.isEquipotModel() else "TorchScript module"
    source = self.getFile() or "<in memory>"
    return f"<equipot.openmm.TorchForce {kind} from {source}>"


_raw_cast = TorchForce.cast


def _cast(force):
    """TorchForce.cast(force): the TorchForce behind a plain openmm.Force (e.g. one
    from System.getForce after XmlSerializer.deserialize). The result keeps `force`
    alive, since that Python object may own the C++ force."""
    result = _raw_cast(force)
    result._owner = force
    return result


TorchForce.__init__ = _init
TorchForce.cast = staticmethod(_cast)
TorchForce.getModule = _getModule
TorchForce.__repr__ = _repr
TorchForce.__module__ = "equipot.openmm"
