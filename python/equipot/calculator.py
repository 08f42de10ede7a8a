"""ASE calculator that evaluates an exported model through the C++ core, i.e. the
same code path that the LAMMPS and OpenMM plugins use."""

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from ._core import Model


class EquipotCalculator(Calculator):
    """EquipotCalculator("model.pt"): energy, forces, stress (periodic cells) and
    per-atom energies ("energies") and per-atom virials ("stresses")."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies", "stresses"]

    def __init__(self, model_path: str, device: str = "cpu", **kwargs):
        super().__init__(**kwargs)
        self.model = Model(str(model_path), device)

    @property
    def elements(self):
        return self.model.elements

    @property
    def cutoff(self) -> float:
        return self.model.cutoff

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        wants_stress = "stress" in properties or "stresses" in properties
        if wants_stress and not atoms.pbc.all():
            raise PropertyNotImplementedError("stress needs a cell that is periodic in all three directions")
        result = self.model.evaluate_structure(
            atoms.get_positions(),
            np.asarray(atoms.get_cell()[:]),
            atoms.get_pbc(),
            self.model.species(atoms.get_chemical_symbols()),
            atom_energies=True,
            virial=wants_stress,
            atom_virial="stresses" in properties,
        )
        self.results["energy"] = self.results["free_energy"] = result["energy"]
        self.results["forces"] = result["forces"]
        self.results["energies"] = result["atom_energies"]
        if wants_stress:
            volume = atoms.get_volume()
            # ASE's stress is (1/V) dE/d(strain) = -W/V for the virial W.
            self.results["stress"] = full_3x3_to_voigt_6_stress(-result["virial"] / volume)
        if "stresses" in properties:
            self.results["stresses"] = np.array(
                [full_3x3_to_voigt_6_stress(-w / volume) for w in result["atom_virial"]]
            )
