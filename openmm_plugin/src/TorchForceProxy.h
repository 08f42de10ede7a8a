#pragma once

#include "openmm/serialization/SerializationProxy.h"

namespace EquipotOpenMM {

// XML form of a TorchForce: the model file's bytes (hex) plus every setting, so a
// deserialized force works without the original file. Type name "EquipotTorchForce"
// (not openmm-torch's "TorchForce", so both plugins can be loaded together).
class TorchForceProxy : public OpenMM::SerializationProxy {
 public:
  TorchForceProxy() : OpenMM::SerializationProxy("EquipotTorchForce") {}
  void serialize(const void* object, OpenMM::SerializationNode& node) const override;
  void* deserialize(const OpenMM::SerializationNode& node) const override;
};

}  // namespace EquipotOpenMM
