"""The compiled plugin is installed, registered with OpenMM's platforms, and
TorchForce is an openmm.Force."""

import importlib.util

import openmm
import torch

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


def test_threads_property_sets_torch_threads(models):
    """torch's intra-op thread pool is process-wide: the count a TorchForce asks for is
    set when its Context is created, and torch in this Python process sees it."""
    path = models[("ho", "float64")]
    assert "threads" not in TorchForce(path).getProperties()  # unset: torch's own default
    previous = torch.get_num_threads()
    try:
        for threads, force in ((1, TorchForce(path, {"threads": "1"}, elements=["H", "O"])),
                               (3, TorchForce(path, elements=["H", "O"], threads=3))):
            assert force.getProperties()["threads"] == str(threads)
            torch.set_num_threads(2)
            system = openmm.System()
            system.addParticle(1.0)
            system.addParticle(16.0)
            system.addForce(force)
            assert torch.get_num_threads() == 2  # not before the Context exists
            openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(previous)
