#include "ReferenceTorchKernels.h"

#include "openmm/OpenMMException.h"
#include "openmm/Vec3.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/reference/ReferencePlatform.h"

using OpenMM::Vec3;

namespace EquipotOpenMM {

void ReferenceCalcTorchForceKernel::initialize(const OpenMM::System& system, const TorchForce& force) {
  particles = force.getParticles();
  if (particles.empty()) {
    particles.resize(system.getNumParticles());
    for (int i = 0; i < system.getNumParticles(); ++i) particles[i] = i;
  }
  for (int i = 0; i < force.getNumGlobalParameters(); ++i) globalNames.push_back(force.getGlobalParameterName(i));
  for (int i = 0; i < force.getNumEnergyParameterDerivatives(); ++i)
    derivativeNames.push_back(force.getEnergyParameterDerivativeName(i));
  const size_t n = particles.size();
  positions.resize(3 * n);
  forces.resize(3 * n);
  globals.resize(globalNames.size());
  model = std::make_unique<TorchModel>(force, static_cast<int>(n));
}

double ReferenceCalcTorchForceKernel::execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) {
  auto* data = reinterpret_cast<OpenMM::ReferencePlatform::PlatformData*>(context.getPlatformData());
  const std::vector<Vec3>& allPositions = *data->positions;
  const size_t n = particles.size();
  for (size_t a = 0; a < n; ++a) {
    const Vec3& r = allPositions[particles[a]];
    positions[3 * a] = r[0];
    positions[3 * a + 1] = r[1];
    positions[3 * a + 2] = r[2];
  }
  double box[9];
  for (int k = 0; k < 3; ++k)
    for (int d = 0; d < 3; ++d) box[3 * k + d] = data->periodicBoxVectors[k][d];
  for (size_t g = 0; g < globalNames.size(); ++g) globals[g] = context.getParameter(globalNames[g]);

  const double energy = model->evaluate(positions.data(), box, globals, includeForces, forces.data(), derivatives);

  if (includeForces) {
    std::vector<Vec3>& allForces = *data->forces;
    for (size_t a = 0; a < n; ++a) allForces[particles[a]] += Vec3(forces[3 * a], forces[3 * a + 1], forces[3 * a + 2]);
  }
  if (!derivativeNames.empty()) {
    auto& energyParameterDerivatives = *data->energyParameterDerivatives;
    for (size_t d = 0; d < derivativeNames.size(); ++d) energyParameterDerivatives[derivativeNames[d]] += derivatives[d];
  }
  return energy;
}

}  // namespace EquipotOpenMM
