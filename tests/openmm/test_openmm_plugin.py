"""The compiled plugin is installed, registered with OpenMM's platforms, and
TorchForce is an openmm.Force."""

import importlib.util

import openmm

import equipot
from equipot.openmm import TorchForce


def test_plugin_module_is_installed():
    spec = importlib.util.find_spec("equipot._openmmplugin")
    assert spec is not None and spec.origin.endswith(".so"), "the OpenMM plugin was not built"
    assert issubclass(TorchForce, openmm.Force)
    assert equipot.openmm.TorchForce is TorchForce


def test_kernels_registered_with_reference_and_cpu(models):
    system = openmm.System()
    system.addParticle(1.0)
    system.addParticle(16.0)
    force = TorchForce(models[("ho", "float64")], elements=["H", "O"])
    index = system.addForce(force)
    assert system.getForce(index) is not None
    assert not force.thisown  # the System owns it now
    for name in ("Reference", "CPU"):
        context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(name))
        assert context.getPlatform().getName() == name
    # With no platform named, OpenMM picks the fastest one that has the kernel.
    context = openmm.Context(system, openmm.VerletIntegrator(0.001))
    assert context.getPlatform().getName() in ("CPU", "Reference")
