#include "TorchForceProxy.h"

#include <memory>

#include "equipot_openmm/TorchForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"

using OpenMM::OpenMMException;
using OpenMM::SerializationNode;

namespace EquipotOpenMM {
namespace {

constexpr int kVersion = 1;

std::string toHex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string hex(2 * bytes.size(), '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    hex[2 * i] = digits[byte >> 4];
    hex[2 * i + 1] = digits[byte & 15];
  }
  return hex;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  throw OpenMMException("EquipotTorchForce XML: the model bytes contain a character that is not hexadecimal");
}

std::string fromHex(const std::string& hex) {
  if (hex.size() % 2 != 0) throw OpenMMException("EquipotTorchForce XML: the model bytes have an odd length");
  std::string bytes(hex.size() / 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>(16 * hexDigit(hex[2 * i]) + hexDigit(hex[2 * i + 1]));
  return bytes;
}

}  // namespace

void TorchForceProxy::serialize(const void* object, SerializationNode& node) const {
  const auto& force = *reinterpret_cast<const TorchForce*>(object);
  node.setIntProperty("version", kVersion);
  node.setStringProperty("file", force.getFile());
  node.setIntProperty("forceGroup", force.getForceGroup());
  node.setStringProperty("name", force.getName());
  node.setBoolProperty("usesPeriodic", force.usesPeriodicBoundaryConditions());
  node.setBoolProperty("outputsForces", force.getOutputsForces());
  SerializationNode& globals = node.createChildNode("GlobalParameters");
  for (int i = 0; i < force.getNumGlobalParameters(); ++i)
    globals.createChildNode("Parameter")
        .setStringProperty("name", force.getGlobalParameterName(i))
        .setDoubleProperty("default", force.getGlobalParameterDefaultValue(i));
  SerializationNode& derivatives = node.createChildNode("EnergyParameterDerivatives");
  for (int i = 0; i < force.getNumEnergyParameterDerivatives(); ++i)
    derivatives.createChildNode("Parameter").setStringProperty("name", force.getEnergyParameterDerivativeName(i));
  SerializationNode& properties = node.createChildNode("Properties");
  for (const auto& [name, value] : force.getProperties())
    properties.createChildNode("Property").setStringProperty("name", name).setStringProperty("value", value);
  SerializationNode& particles = node.createChildNode("Particles");
  for (int particle : force.getParticles()) particles.createChildNode("Particle").setIntProperty("index", particle);
  SerializationNode& elements = node.createChildNode("Elements");
  for (const auto& symbol : force.getElements()) elements.createChildNode("Element").setStringProperty("symbol", symbol);
  node.setStringProperty("model", toHex(force.getModelBytes()));
}

void* TorchForceProxy::deserialize(const SerializationNode& node) const {
  const int version = node.getIntProperty("version");
  if (version < 1 || version > kVersion)
    throw OpenMMException("EquipotTorchForce XML has version " + std::to_string(version) +
                          ", but this equipot reads versions 1 to " + std::to_string(kVersion));
  std::map<std::string, std::string> properties;
  for (const auto& property : node.getChildNode("Properties").getChildren())
    properties[property.getStringProperty("name")] = property.getStringProperty("value");
  auto force = std::make_unique<TorchForce>(ModelBytes{fromHex(node.getStringProperty("model"))}, properties,
                                            node.getStringProperty("file", ""));
  force->setForceGroup(node.getIntProperty("forceGroup", 0));
  if (node.hasProperty("name")) force->setName(node.getStringProperty("name"));
  force->setUsesPeriodicBoundaryConditions(node.getBoolProperty("usesPeriodic", false));
  force->setOutputsForces(node.getBoolProperty("outputsForces", false));
  for (const auto& parameter : node.getChildNode("GlobalParameters").getChildren())
    force->addGlobalParameter(parameter.getStringProperty("name"), parameter.getDoubleProperty("default"));
  for (const auto& parameter : node.getChildNode("EnergyParameterDerivatives").getChildren())
    force->addEnergyParameterDerivative(parameter.getStringProperty("name"));
  std::vector<int> particles;
  for (const auto& particle : node.getChildNode("Particles").getChildren())
    particles.push_back(particle.getIntProperty("index"));
  force->setParticles(particles);
  std::vector<std::string> elements;
  for (const auto& element : node.getChildNode("Elements").getChildren())
    elements.push_back(element.getStringProperty("symbol"));
  force->setElements(elements);
  return force.release();
}

}  // namespace EquipotOpenMM
