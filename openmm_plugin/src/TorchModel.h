// The torch side of TorchForce, behind an interface free of torch headers so that the
// kernels do not pay libtorch's compile time. A kernel gathers the positions of
// the atoms the model sees, calls evaluate() and scatters the forces back; all
// quantities crossing this interface are in OpenMM units (nm, kJ/mol).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "equipot_openmm/TorchForce.h"  // also declares torch::jit::Module, equipot::ModelMetadata

namespace EquipotOpenMM {

// Loads and checks the bytes of a model file (once); throws OpenMM::OpenMMException with
// a message naming the problem (not TorchScript, bad equipot metadata, ...). Returns
// the core's metadata for an equipot model, null for an openmm-torch-convention module.
std::shared_ptr<const equipot::ModelMetadata> inspectModel(const std::string& bytes, const std::string& origin);

// Serializes a module already loaded in C++ (torch::jit::Module::save).
std::string moduleToBytes(const torch::jit::Module& module);

class TorchModel {
 public:
  // Loads this Context's own copy of the force's model for `numAtoms` atoms.
  TorchModel(const TorchForce& force, int numAtoms);
  ~TorchModel();
  TorchModel(const TorchModel&) = delete;
  TorchModel& operator=(const TorchModel&) = delete;

  // positions: numAtoms x 3 (nm); box: 3 x 3, rows are the box vectors (nm), used when
  // the force is periodic; globals: current values of the force's global parameters.
  // When includeForces, forces (numAtoms x 3, kJ/mol/nm) are overwritten; derivatives
  // gets dE/dp for each requested energy-parameter derivative. Returns kJ/mol.
  double evaluate(const double* positions, const double* box, const std::vector<double>& globals,
                  bool includeForces, double* forces, std::vector<double>& derivatives);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl;
};

}  // namespace EquipotOpenMM
