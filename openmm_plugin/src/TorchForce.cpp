#include "equipot_openmm/TorchForce.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "TorchForceImpl.h"
#include "TorchModel.h"
#include "equipot/elements.h"
#include "equipot/errors.h"
#include "equipot/model.h"
#include "openmm/OpenMMException.h"

using OpenMM::OpenMMException;

namespace EquipotOpenMM {
namespace {

const std::map<std::string, std::string>& defaultProperties() {
  static const std::map<std::string, std::string> defaults = {{"useCUDAGraphs", "false"},
                                                              {"CUDAGraphWarmupSteps", "10"}};
  return defaults;
}

// "threads" has no default: unset, torch keeps its own thread count.
const std::set<std::string>& knownProperties() {
  static const std::set<std::string> known = {"useCUDAGraphs", "CUDAGraphWarmupSteps", "threads"};
  return known;
}

void checkPositiveInteger(const std::string& name, const std::string& value) {
  size_t used = 0;
  long number = -1;
  try {
    number = std::stol(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || number < 1 || number > std::numeric_limits<int>::max())
    throw OpenMMException("TorchForce: property " + name + " must be a positive integer, got '" + value + "'");
}

std::string readFile(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw OpenMMException("TorchForce: model file '" + path + "' does not exist or cannot be read");
  std::ostringstream bytes;
  bytes << stream.rdbuf();
  if (!stream.good() && !stream.eof())
    throw OpenMMException("TorchForce: error while reading model file '" + path + "'");
  return bytes.str();
}

void checkIndex(int index, size_t size, const char* what) {
  if (index < 0 || static_cast<size_t>(index) >= size)
    throw OpenMMException("TorchForce: " + std::string(what) + " index " + std::to_string(index) +
                          " is out of range (there are " + std::to_string(size) + ")");
}

}  // namespace

TorchForce::TorchForce(const std::string& file, const std::map<std::string, std::string>& properties)
    : file(file) {
  setName("TorchForce");
  setProperties(properties);
  setModel(readFile(file));
}

TorchForce::TorchForce(const torch::jit::Module& module, const std::map<std::string, std::string>& properties)
    : TorchForce(ModelBytes{moduleToBytes(module)}, properties) {}

TorchForce::TorchForce(const ModelBytes& model, const std::map<std::string, std::string>& properties,
                       const std::string& file)
    : file(file) {
  setName("TorchForce");
  setProperties(properties);
  setModel(model.bytes);
}

void TorchForce::setModel(std::string bytes) {
  metadata = inspectModel(bytes, file.empty() ? "<model bytes>" : file);
  modelBytes = std::move(bytes);
}

const std::vector<std::string>& TorchForce::getModelElements() const {
  static const std::vector<std::string> none;
  return metadata ? metadata->elements : none;
}

double TorchForce::getModelCutoff() const { return metadata ? metadata->cutoff : 0.0; }

const std::string& TorchForce::getModelDtype() const {
  static const std::string none;
  return metadata ? metadata->dtype : none;
}

void TorchForce::setProperties(const std::map<std::string, std::string>& given) {
  properties = defaultProperties();
  for (const auto& [name, value] : given) setProperty(name, value);
}

void TorchForce::setProperty(const std::string& name, const std::string& value) {
  if (!knownProperties().count(name)) {
    std::string known;
    for (const auto& key : knownProperties()) known += (known.empty() ? "" : ", ") + key;
    throw OpenMMException("TorchForce: unknown property '" + name + "' (known properties: " + known + ")");
  }
  if (name == "useCUDAGraphs") {
    std::string lower = value;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower != "true" && lower != "false")
      throw OpenMMException("TorchForce: property useCUDAGraphs must be 'true' or 'false', got '" + value + "'");
    properties[name] = lower;
    return;
  }
  if (name == "CUDAGraphWarmupSteps" || name == "threads") checkPositiveInteger(name, value);
  properties[name] = value;
}

int TorchForce::addGlobalParameter(const std::string& name, double defaultValue) {
  for (const auto& parameter : globalParameters)
    if (parameter.first == name)
      throw OpenMMException("TorchForce: global parameter '" + name + "' was already added");
  globalParameters.emplace_back(name, defaultValue);
  return static_cast<int>(globalParameters.size()) - 1;
}

const std::string& TorchForce::getGlobalParameterName(int index) const {
  checkIndex(index, globalParameters.size(), "global parameter");
  return globalParameters[index].first;
}

void TorchForce::setGlobalParameterName(int index, const std::string& name) {
  checkIndex(index, globalParameters.size(), "global parameter");
  globalParameters[index].first = name;
}

double TorchForce::getGlobalParameterDefaultValue(int index) const {
  checkIndex(index, globalParameters.size(), "global parameter");
  return globalParameters[index].second;
}

void TorchForce::setGlobalParameterDefaultValue(int index, double defaultValue) {
  checkIndex(index, globalParameters.size(), "global parameter");
  globalParameters[index].second = defaultValue;
}

void TorchForce::addEnergyParameterDerivative(const std::string& name) {
  const auto global = std::find_if(globalParameters.begin(), globalParameters.end(),
                                   [&](const auto& parameter) { return parameter.first == name; });
  if (global == globalParameters.end()) {
    std::vector<std::string> names;
    for (const auto& parameter : globalParameters) names.push_back(parameter.first);
    throw OpenMMException("TorchForce: addEnergyParameterDerivative: '" + name +
                          "' is not a global parameter of this force (add it with addGlobalParameter first; "
                          "global parameters: " + (names.empty() ? "none" : equipot::join_words(names)) + ")");
  }
  const int index = static_cast<int>(global - globalParameters.begin());
  if (std::find(energyParameterDerivatives.begin(), energyParameterDerivatives.end(), index) !=
      energyParameterDerivatives.end())
    throw OpenMMException("TorchForce: the derivative with respect to '" + name + "' was already requested");
  energyParameterDerivatives.push_back(index);
}

const std::string& TorchForce::getEnergyParameterDerivativeName(int index) const {
  checkIndex(index, energyParameterDerivatives.size(), "energy parameter derivative");
  return globalParameters[energyParameterDerivatives[index]].first;
}

void TorchForce::setParticles(const std::vector<int>& subset) {
  std::set<int> seen;
  for (int particle : subset) {
    if (particle < 0) throw OpenMMException("TorchForce: particle index " + std::to_string(particle) + " is negative");
    if (!seen.insert(particle).second)
      throw OpenMMException("TorchForce: particle " + std::to_string(particle) + " is listed twice");
  }
  particles = subset;
}

void TorchForce::setElements(const std::vector<std::string>& symbols) {
  if (metadata) {
    for (size_t atom = 0; atom < symbols.size(); ++atom) {
      try {
        equipot::species_index(metadata->elements, symbols[atom]);
      } catch (const equipot::Error& error) {
        throw OpenMMException("TorchForce: atom " + std::to_string(atom) + ": " + error.what());
      }
    }
  }
  elements = symbols;
}

OpenMM::ForceImpl* TorchForce::createImpl() const { return new TorchForceImpl(*this); }

}  // namespace EquipotOpenMM
