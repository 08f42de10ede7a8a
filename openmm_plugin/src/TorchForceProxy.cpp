#include "TorchForceProxy.h"

#include <memory>

#include "equipot_openmm/TorchForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"

using OpenMM::OpenMMException;
using OpenMM::SerializationNode;

namespace EquipotOpenMM {
namespace {

constexpr int kVersion = 1;             // equipot's "EquipotTorchForce" XML
constexpr int kOpenMMTorchVersion = 4;  // newest openmm-torch "TorchForce" XML read here

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

int hexDigit(char c, const std::string& type) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  throw OpenMMException(type + " XML: the model bytes contain a character that is not hexadecimal");
}

std::string fromHex(const std::string& hex, const std::string& type) {
  if (hex.size() % 2 != 0) throw OpenMMException(type + " XML: the model bytes have an odd length");
  std::string bytes(hex.size() / 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>(16 * hexDigit(hex[2 * i], type) + hexDigit(hex[2 * i + 1], type));
  return bytes;
}

void checkVersion(const SerializationNode& node, const std::string& type, int newest) {
  const int version = node.getIntProperty("version");
  if (version < 1 || version > newest)
    throw OpenMMException(type + " XML has version " + std::to_string(version) + ", but this equipot reads versions 1 to " +
                          std::to_string(newest));
}

// The children of node's child `name`; none when it is absent (older XML versions).
const std::vector<SerializationNode>& childrenOf(const SerializationNode& node, const std::string& name) {
  static const std::vector<SerializationNode> none;
  for (const auto& child : node.getChildren())
    if (child.getName() == name) return child.getChildren();
  return none;
}

// The settings both XML forms store under openmm-torch's names; the derivatives are
// listed under `derivatives` ("EnergyParameterDerivatives" in equipot's own form).
void readSettings(const SerializationNode& node, const std::string& derivatives, TorchForce& force) {
  for (const auto& property : childrenOf(node, "Properties"))
    force.setProperty(property.getStringProperty("name"), property.getStringProperty("value"));
  force.setForceGroup(node.getIntProperty("forceGroup", 0));
  if (node.hasProperty("name")) force.setName(node.getStringProperty("name"));
  force.setUsesPeriodicBoundaryConditions(node.getBoolProperty("usesPeriodic", false));
  force.setOutputsForces(node.getBoolProperty("outputsForces", false));
  for (const auto& parameter : childrenOf(node, "GlobalParameters"))
    force.addGlobalParameter(parameter.getStringProperty("name"), parameter.getDoubleProperty("default"));
  for (const auto& parameter : childrenOf(node, derivatives))  // after the globals they name
    force.addEnergyParameterDerivative(parameter.getStringProperty("name"));
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
  checkVersion(node, getTypeName(), kVersion);
  auto force = std::make_unique<TorchForce>(ModelBytes{fromHex(node.getStringProperty("model"), getTypeName())},
                                            std::map<std::string, std::string>{}, node.getStringProperty("file", ""));
  readSettings(node, "EnergyParameterDerivatives", *force);
  std::vector<int> particles;
  for (const auto& particle : childrenOf(node, "Particles")) particles.push_back(particle.getIntProperty("index"));
  force->setParticles(particles);
  std::vector<std::string> elements;
  for (const auto& element : childrenOf(node, "Elements")) elements.push_back(element.getStringProperty("symbol"));
  force->setElements(elements);
  return force.release();
}

void OpenMMTorchForceReader::serialize(const void*, SerializationNode&) const {
  throw OpenMMException("equipot writes its TorchForce as EquipotTorchForce XML, never as openmm-torch's TorchForce");
}

void* OpenMMTorchForceReader::deserialize(const SerializationNode& node) const {
  const std::string type = "TorchForce (openmm-torch)";
  checkVersion(node, type, kOpenMMTorchVersion);
  std::unique_ptr<TorchForce> force;
  if (node.getIntProperty("version") == 1) {
    force = std::make_unique<TorchForce>(node.getStringProperty("file"));  // version 1 only names the file
  } else {
    if (!node.hasProperty("encodedFileContents"))
      throw OpenMMException(type + " XML lacks encodedFileContents (the model's bytes)");
    force = std::make_unique<TorchForce>(ModelBytes{fromHex(node.getStringProperty("encodedFileContents"), type)});
  }
  readSettings(node, "ParameterDerivatives", *force);
  return force.release();
}

}  // namespace EquipotOpenMM
