#include "TorchForceImpl.h"

#include "equipot_openmm/TorchKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"

using OpenMM::OpenMMException;

namespace EquipotOpenMM {

void TorchForceImpl::validate(const TorchForce& force, const OpenMM::System& system) {
  const int numParticles = system.getNumParticles();
  for (int particle : force.getParticles())
    if (particle >= numParticles)
      throw OpenMMException("TorchForce: particle index " + std::to_string(particle) +
                            " is out of range: the System has " + std::to_string(numParticles) + " particles");
  const size_t numAtoms = force.getParticles().empty() ? numParticles : force.getParticles().size();
  if (numAtoms == 0) throw OpenMMException("TorchForce: the model sees no particles");
  if (force.isEquipotModel()) {
    if (force.getElements().empty())
      throw OpenMMException(
          "TorchForce: an equipot model needs the chemical element of every atom it sees; pass "
          "elements=[...] or a Topology to TorchForce (Python) or call setElements()");
    if (force.getElements().size() != numAtoms)
      throw OpenMMException("TorchForce: " + std::to_string(force.getElements().size()) +
                            " elements were given but the model sees " + std::to_string(numAtoms) +
                            (force.getParticles().empty() ? " particles (all particles of the System)"
                                                          : " particles (setParticles)"));
    if (force.getNumGlobalParameters() > 0 || force.getNumEnergyParameterDerivatives() > 0)
      throw OpenMMException(
          "TorchForce: equipot models take no global parameters or parameter derivatives; scale "
          "their energy with a CustomCVForce instead");
  } else if (!force.getElements().empty() && force.getElements().size() != numAtoms) {
    throw OpenMMException("TorchForce: " + std::to_string(force.getElements().size()) +
                          " elements were given but the model sees " + std::to_string(numAtoms) + " particles");
  }
}

void TorchForceImpl::initialize(OpenMM::ContextImpl& context) {
  validate(owner, context.getSystem());
  kernel = context.getPlatform().createKernel(CalcTorchForceKernel::Name(), context);
  kernel.getAs<CalcTorchForceKernel>().initialize(context.getSystem(), owner);
}

double TorchForceImpl::calcForcesAndEnergy(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy,
                                           int groups) {
  if ((groups & (1 << owner.getForceGroup())) == 0) return 0.0;
  return kernel.getAs<CalcTorchForceKernel>().execute(context, includeForces, includeEnergy);
}

std::map<std::string, double> TorchForceImpl::getDefaultParameters() {
  std::map<std::string, double> parameters;
  for (int i = 0; i < owner.getNumGlobalParameters(); ++i)
    parameters[owner.getGlobalParameterName(i)] = owner.getGlobalParameterDefaultValue(i);
  return parameters;
}

std::vector<std::string> TorchForceImpl::getKernelNames() { return {CalcTorchForceKernel::Name()}; }

}  // namespace EquipotOpenMM
