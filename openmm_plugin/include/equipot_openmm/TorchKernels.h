// The platform-independent kernel interface of TorchForce. Each platform (Reference
// and CPU here; a CUDA kernel would be one more subclass) implements it.
#pragma once

#include <string>

#include "equipot_openmm/TorchForce.h"
#include "openmm/KernelImpl.h"
#include "openmm/Platform.h"
#include "openmm/System.h"

namespace OpenMM {
class ContextImpl;
}

namespace EquipotOpenMM {

class CalcTorchForceKernel : public OpenMM::KernelImpl {
 public:
  // Distinct from openmm-torch's "CalcTorchForce", so both plugins can be loaded.
  static std::string Name() { return "CalcEquipotTorchForce"; }
  CalcTorchForceKernel(const std::string& name, const OpenMM::Platform& platform)
      : OpenMM::KernelImpl(name, platform) {}
  // Loads this Context's own copy of the model and checks it against the System.
  virtual void initialize(const OpenMM::System& system, const TorchForce& force) = 0;
  // Adds forces (when includeForces) and returns the energy in kJ/mol.
  virtual double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) = 0;
};

}  // namespace EquipotOpenMM
