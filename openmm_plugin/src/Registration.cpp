// Registration with OpenMM: the kernel factory for every ReferencePlatform-derived
// platform (Reference, CPU) and the serialization proxies. Both happen when the library
// is loaded (the Python module links it), and again on demand through
// EquipotOpenMM::registerKernelFactories() for platforms loaded later; OpenMM's
// Platform::loadPluginsFromDirectory finds the extern "C" entry point below.
#include <mutex>
#include <set>
#include <string>
#include <typeinfo>

#include "ReferenceTorchKernels.h"
#include "TorchForceProxy.h"
#include "equipot_openmm/TorchForce.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/reference/ReferencePlatform.h"
#include "openmm/serialization/SerializationProxy.h"

namespace EquipotOpenMM {
namespace {

class ReferenceTorchKernelFactory : public OpenMM::KernelFactory {
 public:
  OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform,
                                       OpenMM::ContextImpl& context) const override {
    if (name == CalcTorchForceKernel::Name()) return new ReferenceCalcTorchForceKernel(name, platform);
    throw OpenMM::OpenMMException("equipot TorchForce plugin: no kernel named '" + name + "'");
  }
};

// registerProxy also files a proxy under a C++ type; the reader of openmm-torch's XML
// writes nothing, and a type of its own keeps it away from every real force.
struct OpenMMTorchXml {};

bool hasProxyNamed(const std::string& typeName) {
  try {
    OpenMM::SerializationProxy::getProxy(typeName);
    return true;
  } catch (const OpenMM::OpenMMException&) {
    return false;
  }
}

void registerSerializationProxies() {
  static std::once_flag once;
  std::call_once(once, [] {
    OpenMM::SerializationProxy::registerProxy(typeid(TorchForce), new TorchForceProxy());
    // OpenMM keeps one proxy per type name: the last one registered. openmm-torch
    // registers its "TorchForce" proxy when its library loads; if that happened first,
    // it is kept, and if it happens later, it replaces this reader. So openmm-torch
    // reads its own XML whenever it is loaded, and equipot only when it is not.
    if (!hasProxyNamed("TorchForce"))
      OpenMM::SerializationProxy::registerProxy(typeid(OpenMMTorchXml), new OpenMMTorchForceReader());
  });
}

}  // namespace

void registerKernelFactories() {
  static std::mutex mutex;
  static std::set<const OpenMM::Platform*> registered;
  std::lock_guard<std::mutex> lock(mutex);
  for (int i = 0; i < OpenMM::Platform::getNumPlatforms(); ++i) {
    OpenMM::Platform& platform = OpenMM::Platform::getPlatform(i);
    if (dynamic_cast<OpenMM::ReferencePlatform*>(&platform) == nullptr || registered.count(&platform)) continue;
    platform.registerKernelFactory(CalcTorchForceKernel::Name(), new ReferenceTorchKernelFactory());
    registered.insert(&platform);
  }
  registerSerializationProxies();
}

}  // namespace EquipotOpenMM

extern "C" __attribute__((visibility("default"))) void registerKernelFactories() {
  EquipotOpenMM::registerKernelFactories();
}

namespace {
__attribute__((constructor)) void registerOnLoad() {
  try {
    EquipotOpenMM::registerKernelFactories();
  } catch (...) {
    // Never let an exception escape a library constructor; registration is retried
    // explicitly by the Python module and by users calling registerKernelFactories().
  }
}
}  // namespace
