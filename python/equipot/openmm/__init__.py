"""equipot's OpenMM plugin: a C++ TorchForce that runs frozen models with no Python
in the MD loop. openmm-ml uses it for MLPotential("equipot", modelPath=...)
(equipot.openmm.mlpotential); create_system and create_mixed_system are shorthands for
that potential's createSystem and createMixedSystem.

    from equipot.openmm import TorchForce, create_system, create_mixed_system

    system.addForce(TorchForce("model.pt", elements=topology))   # an equipot model
    system.addForce(TorchForce(torch.jit.script(module)))       # openmm-torch convention

TorchForce keeps openmm-torch's API (properties, setOutputsForces,
setUsesPeriodicBoundaryConditions, global parameters, energy-parameter derivatives,
getFile/getModule, TorchForce.cast/isinstance). Importing this package registers the
plugin's Reference and CPU kernels and its XML serialization proxy with OpenMM.
"""

from equipot import _core  # noqa: F401  (torch and the C++ core, version-checked, before the plugin)

try:
    import openmm
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "equipot.openmm needs the openmm package (pip install 'equipot[openmm]' or openmm==8.6.1)"
    ) from error

try:
    from .. import openmmplugin as _plugin
except ImportError as error:
    raise ImportError(
        "equipot was built without its OpenMM plugin (equipot.openmmplugin is missing or does not load: "
        f"{error}). Install openmm first, then rebuild equipot with "
        "`pip install --no-build-isolation -C cmake.define.EQUIPOT_OPENMM=ON .`"
    ) from error

from ._force import ANGSTROM_PER_NM, KJ_PER_MOL_PER_EV, TorchForce, property_map  # noqa: E402
from .helpers import create_mixed_system, create_system  # noqa: E402

# Platforms are loaded by `import openmm` (the CPU platform is a plugin); register
# with all of them now, after they exist.
_plugin.registerPluginKernels()

__all__ = ["TorchForce", "create_system", "create_mixed_system", "property_map", "KJ_PER_MOL_PER_EV", "ANGSTROM_PER_NM"]
