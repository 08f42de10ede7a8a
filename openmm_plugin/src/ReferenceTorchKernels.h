// The Reference and CPU platform kernel: both platforms keep positions, forces and the
// box in ReferencePlatform::PlatformData (CpuPlatform derives from ReferencePlatform),
// so one kernel serves both. It gathers the model atoms' positions, runs the model
// through TorchModel (libtorch on the CPU) and adds the forces back.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "TorchModel.h"
#include "equipot_openmm/TorchKernels.h"

namespace EquipotOpenMM {

class ReferenceCalcTorchForceKernel : public CalcTorchForceKernel {
 public:
  ReferenceCalcTorchForceKernel(const std::string& name, const OpenMM::Platform& platform)
      : CalcTorchForceKernel(name, platform) {}
  void initialize(const OpenMM::System& system, const TorchForce& force) override;
  double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) override;

 private:
  std::unique_ptr<TorchModel> model;
  std::vector<int> particles;  // model atom -> System particle
  std::vector<std::string> globalNames;
  std::vector<std::string> derivativeNames;
  std::vector<double> positions, forces, globals, derivatives;
};

}  // namespace EquipotOpenMM
