#pragma once

#include "openmm/serialization/SerializationProxy.h"

namespace EquipotOpenMM {

// XML form of a TorchForce: the model file's bytes (hex) plus every setting, so a
// deserialized force works without the original file. Type name "EquipotTorchForce",
// not openmm-torch's "TorchForce": equipot's XML holds more (particles, elements) and
// must not be handed to openmm-torch's reader when both plugins are loaded.
class TorchForceProxy : public OpenMM::SerializationProxy {
 public:
  TorchForceProxy() : OpenMM::SerializationProxy("EquipotTorchForce") {}
  void serialize(const void* object, OpenMM::SerializationNode& node) const override;
  void* deserialize(const OpenMM::SerializationNode& node) const override;
};

// Reads the XML openmm-torch writes for its own TorchForce (type "TorchForce",
// versions 1 to 4) into equipot's TorchForce, so Systems saved with openmm-torch load
// without it. Registered only while no other proxy answers to "TorchForce", so that
// openmm-torch's own reader wins whenever openmm-torch is loaded (Registration.cpp).
// It never writes: equipot's forces are written by TorchForceProxy.
class OpenMMTorchForceReader : public OpenMM::SerializationProxy {
 public:
  OpenMMTorchForceReader() : OpenMM::SerializationProxy("TorchForce") {}
  void serialize(const void* object, OpenMM::SerializationNode& node) const override;
  void* deserialize(const OpenMM::SerializationNode& node) const override;
};

}  // namespace EquipotOpenMM
