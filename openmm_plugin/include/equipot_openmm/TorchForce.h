// equipot's OpenMM TorchForce: a Force whose energy and forces come from a frozen
// TorchScript model, evaluated in C++ with no Python in the MD loop.
//
// Two kinds of model are accepted and told apart by the model file itself:
//  * an equipot model (written by equipot.export.export_model; it carries equipot
//    metadata as TorchScript extra files). The plugin builds the neighbor list in C++
//    through equipot's core, converts nm <-> Angstrom and kJ/mol <-> eV, and takes the
//    forces from the core. It needs the chemical element of every atom it sees
//    (setElements) and can be restricted to a subset of the particles (setParticles).
//  * any other TorchScript module, in openmm-torch's calling convention:
//    forward(positions[N,3] nm [, box[3,3] nm] [, one scalar per global parameter])
//    returning the energy in kJ/mol, or (energy, forces[N,3] kJ/mol/nm) when
//    setOutputsForces(true) was called.
//
// The API keeps openmm-torch's TorchForce so that its users can switch.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "openmm/Force.h"

namespace torch {
namespace jit {
struct Module;
}  // namespace jit
}  // namespace torch

namespace equipot {
struct ModelMetadata;
}  // namespace equipot

namespace EquipotOpenMM {

// The bytes of a serialized TorchScript archive (what torch.jit.save writes).
struct ModelBytes {
  std::string bytes;
};

class TorchForce : public OpenMM::Force {
 public:
  // Reads the model file (an equipot model or an openmm-torch-convention module).
  // properties: "useCUDAGraphs" ("true"/"false", default "false"),
  // "CUDAGraphWarmupSteps" (positive integer, default "10") and "threads" (positive
  // integer: torch's intra-op thread count, set process-wide when a Context is
  // created; unset by default, leaving torch's own); any other key is an error.
  explicit TorchForce(const std::string& file, const std::map<std::string, std::string>& properties = {});
  // From a module already loaded in C++ (saved to bytes and reloaded per Context).
  explicit TorchForce(const torch::jit::Module& module, const std::map<std::string, std::string>& properties = {});
  // From the bytes of a model file; `file` is only recorded (getFile()).
  // Every constructor names the force "TorchForce" (Force::getName), as openmm-torch does.
  explicit TorchForce(const ModelBytes& model, const std::map<std::string, std::string>& properties = {},
                      const std::string& file = "");

  // The file the model was read from ("" when built from a module or bytes).
  const std::string& getFile() const { return file; }
  // The model file's bytes (embedded in serialized XML, reloaded per Context).
  const std::string& getModelBytes() const { return modelBytes; }

  // True when the model carries equipot metadata (native path, see above).
  bool isEquipotModel() const { return metadata != nullptr; }
  // For equipot models: the model's element list and cutoff (Angstrom); empty / 0 otherwise.
  const std::vector<std::string>& getModelElements() const;
  double getModelCutoff() const;
  // For equipot models: "float32" or "float64"; empty otherwise.
  const std::string& getModelDtype() const;

  void setUsesPeriodicBoundaryConditions(bool periodic) { usePeriodic = periodic; }
  bool usesPeriodicBoundaryConditions() const override { return usePeriodic; }

  // openmm-torch-convention modules only: forward returns (energy, forces).
  // Equipot models always take their forces from the core; the flag is ignored.
  void setOutputsForces(bool outputsForces) { outputForces = outputsForces; }
  bool getOutputsForces() const { return outputForces; }

  // Global parameters are passed to openmm-torch-convention modules as scalar
  // tensors after the positions (and the box), in the order they were added.
  int getNumGlobalParameters() const { return static_cast<int>(globalParameters.size()); }
  int addGlobalParameter(const std::string& name, double defaultValue);
  const std::string& getGlobalParameterName(int index) const;
  void setGlobalParameterName(int index, const std::string& name);
  double getGlobalParameterDefaultValue(int index) const;
  void setGlobalParameterDefaultValue(int index, double defaultValue);

  // Requests dE/d(parameter) (State.getEnergyParameterDerivatives()). As in openmm-torch,
  // the name must already be a global parameter of this force (an OpenMMException
  // otherwise), and the derivative follows that parameter if it is renamed.
  void addEnergyParameterDerivative(const std::string& name);
  int getNumEnergyParameterDerivatives() const { return static_cast<int>(energyParameterDerivatives.size()); }
  const std::string& getEnergyParameterDerivativeName(int index) const;

  void setProperty(const std::string& name, const std::string& value);
  const std::map<std::string, std::string>& getProperties() const { return properties; }

  // The particles the model sees, in model order (empty: all particles of the System).
  // Forces act on these particles only (ML/MM with mechanical embedding).
  void setParticles(const std::vector<int>& particles);
  const std::vector<int>& getParticles() const { return particles; }

  // Equipot models: the element symbol of every atom the model sees (one per entry of
  // getParticles(), or one per System particle when no subset is set).
  void setElements(const std::vector<std::string>& elements);
  const std::vector<std::string>& getElements() const { return elements; }

 protected:
  OpenMM::ForceImpl* createImpl() const override;

 private:
  void setModel(std::string bytes);
  void setProperties(const std::map<std::string, std::string>& properties);

  std::string file;
  std::string modelBytes;
  std::shared_ptr<const equipot::ModelMetadata> metadata;  // the core's, for equipot models; else null
  bool usePeriodic = false;
  bool outputForces = false;
  std::vector<std::pair<std::string, double>> globalParameters;
  std::vector<int> energyParameterDerivatives;  // indices into globalParameters
  std::map<std::string, std::string> properties;
  std::vector<int> particles;
  std::vector<std::string> elements;
};

// Registers the Reference and CPU kernels of TorchForce with every OpenMM platform
// that can run them (idempotent; the Python module calls it on import). OpenMM's
// Platform::loadPluginsFromDirectory calls the extern "C" registerKernelFactories().
void registerKernelFactories();

}  // namespace EquipotOpenMM
