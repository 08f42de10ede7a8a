"""ASE calculator that evaluates an exported model through the C++ core, i.e. the
same code path that the LAMMPS and OpenMM plugins use."""

from typing import Optional

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from ._core import Model


class EquipotCalculator(Calculator):
    """ASE calculator for a model file written by export_model: energy, forces,
    stress (periodic cells), per-atom energies ("energies") and per-atom virials
    ("stresses"), computed by the same C++ core as the LAMMPS and OpenMM plugins.

        atoms.calc = EquipotCalculator("model.pt", threads=4)
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies", "stresses"]

    def __init__(self, model_path: str, device: str = "cpu", threads: Optional[int] = None, **kwargs):
        """model_path: a file written by export_model (not the training checkpoint).
        device: "cpu" (default), "cuda" or "cuda:N".
        threads: CPU threads torch uses. Default None leaves torch's setting alone:
            one thread per core, or OMP_NUM_THREADS when set. torch has one thread pool
            per process, so this applies to everything torch does in this process; set
            it when other jobs share the machine (they slow each other down a lot).
        Other keywords go to ase.calculators.calculator.Calculator."""
        super().__init__(**kwargs)
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ValueError(f"threads must be a positive integer, got {threads!r}")
            torch.set_num_threads(threads)
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
