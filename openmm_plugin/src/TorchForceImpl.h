#pragma once

#include <map>
#include <string>
#include <vector>

#include "equipot_openmm/TorchForce.h"
#include "openmm/Kernel.h"
#include "openmm/internal/ForceImpl.h"

namespace EquipotOpenMM {

class TorchForceImpl : public OpenMM::ForceImpl {
 public:
  explicit TorchForceImpl(const TorchForce& owner) : owner(owner) {}
  void initialize(OpenMM::ContextImpl& context) override;
  const TorchForce& getOwner() const override { return owner; }
  void updateContextState(OpenMM::ContextImpl& context, bool& forcesInvalid) override {}
  double calcForcesAndEnergy(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy,
                             int groups) override;
  std::map<std::string, double> getDefaultParameters() override;
  std::vector<std::string> getKernelNames() override;

  // Checks the force against a System (particle indices, element list, global
  // parameters of equipot models); throws OpenMMException naming the problem.
  static void validate(const TorchForce& force, const OpenMM::System& system);

 private:
  const TorchForce& owner;
  OpenMM::Kernel kernel;
};

}  // namespace EquipotOpenMM
