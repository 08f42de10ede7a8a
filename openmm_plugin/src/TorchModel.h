// The torch side of TorchForce, behind an interface free of torch headers so that
// only TorchModel.cpp pays libtorch's compile time. A kernel gathers the positions of
// the atoms the model sees, calls evaluate() and scatters the forces back; all
// quantities crossing this interface are in OpenMM units (nm, kJ/mol).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "equipot_openmm/TorchForce.h"  // also declares torch::jit::Module

namespace EquipotOpenMM {

// What TorchForce needs to know about a model when it is constructed.
struct ModelInfo {
  bool equipot = false;               // carries equipot metadata
  std::vector<std::string> elements;  // equipot models: species index -> symbol
  double cutoff = 0.0;                // equipot models: Angstrom
  std::string dtype;                  // equipot models: float32 / float64
};

// Loads and checks the bytes of a model file; throws OpenMM::OpenMMException with a
// message naming the problem (not TorchScript, bad equipot metadata, ...).
ModelInfo inspectModel(const std::string& bytes, const std::string& origin);

// Serializes a module already loaded in C++ (torch::jit::Module::save).
std::string moduleToBytes(const torch::jit::Module& module);

// eV -> kJ/mol, and Angstrom per nm.
constexpr double kKJPerMolPerEV = 96.48533212;
constexpr double kAngstromPerNm = 10.0;

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
