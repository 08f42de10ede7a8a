"""The openmm-ml entry point of equipot (group ``openmmml.potentials``, name ``equipot``):

    from openmmml import MLPotential
    potential = MLPotential("equipot", modelPath="model.pt")
    system = potential.createSystem(topology)

`import openmmml` imports every entry point of that group, without error handling, in
every process that uses openmm-ml, equipot model or not. So this module imports nothing
and cannot fail: it lives outside equipot.openmm (whose import loads torch and the C++
plugin, and raises when the plugin is missing), and the factory imports the
implementation (equipot.openmm.mlpotential) only when a potential is created.
"""


class EquipotPotentialImplFactory:
    """openmm-ml's MLPotentialImplFactory for equipot models. Not a subclass of it:
    that would import openmmml here, and openmm-ml needs only createImpl."""

    def createImpl(self, name, **args):
        from .openmm.mlpotential import EquipotPotentialImpl

        return EquipotPotentialImpl(name, **args)
