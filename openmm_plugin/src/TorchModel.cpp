// Everything in the plugin that touches libtorch.
#include "TorchModel.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <optional>
#include <sstream>

#include "equipot/errors.h"
#include "equipot/model.h"
#include "equipot/units.h"
#include "equipot_openmm/TorchForce.h"
#include "openmm/OpenMMException.h"

using OpenMM::OpenMMException;

namespace EquipotOpenMM {
namespace {

using equipot::kAngstromPerNm;
using equipot::kKJPerMolPerEV;
using equipot::summarize_torch_error;

torch::jit::Module loadModule(const std::string& bytes, const std::string& origin) {
  std::istringstream stream(bytes);
  try {
    return torch::jit::load(stream, torch::kCPU);
  } catch (const std::exception& error) {
    throw OpenMMException("TorchForce: " + equipot::explain_unloadable(bytes, origin, summarize_torch_error(error)));
  }
}

// The names of forward's arguments after self.
std::vector<std::string> forwardArguments(const torch::jit::Module& module, const std::string& origin) {
  auto method = module.find_method("forward");
  if (!method) throw OpenMMException("TorchForce: the TorchScript module in '" + origin + "' has no forward method");
  std::vector<std::string> names;
  const auto& arguments = method->function().getSchema().arguments();
  for (size_t i = 1; i < arguments.size(); ++i) names.push_back(arguments[i].name());
  return names;
}

bool looksLikeEquipotModule(const std::vector<std::string>& arguments) {
  return arguments.size() == 3 && arguments[0] == "species" && arguments[1] == "edge_index" &&
         arguments[2] == "edge_vectors";
}

std::string argumentList(bool periodic, int numGlobals) {
  std::string list = "positions";
  if (periodic) list += ", box";
  for (int i = 0; i < numGlobals; ++i) list += ", <global parameter " + std::to_string(i) + ">";
  return list;
}

}  // namespace

std::shared_ptr<const equipot::ModelMetadata> inspectModel(const std::string& bytes, const std::string& origin) {
  if (bytes.empty()) throw OpenMMException("TorchForce: model '" + origin + "' is empty");
  if (equipot::has_equipot_metadata(bytes)) {
    try {
      return std::make_shared<const equipot::ModelMetadata>(equipot::Model::from_bytes(bytes, "cpu", origin).metadata());
    } catch (const equipot::Error& error) {
      throw OpenMMException(std::string("TorchForce: ") + error.what());
    }
  }
  const auto arguments = forwardArguments(loadModule(bytes, origin), origin);
  if (looksLikeEquipotModule(arguments))
    throw OpenMMException("TorchForce: '" + origin +
                          "' has forward(species, edge_index, edge_vectors) like an equipot model but no equipot "
                          "metadata; pass the file written by equipot's export_model (a module reloaded with "
                          "torch.jit.load loses the metadata unless _extra_files is used)");
  if (arguments.empty())
    throw OpenMMException("TorchForce: the forward method of '" + origin +
                          "' takes no arguments; it must take at least the positions");
  return nullptr;
}

std::string moduleToBytes(const torch::jit::Module& module) {
  std::ostringstream stream;
  try {
    module.save(stream);
  } catch (const c10::Error& error) {
    throw OpenMMException("TorchForce: could not serialize the TorchScript module: " + summarize_torch_error(error));
  }
  return stream.str();
}

struct TorchModel::Impl {
  int numAtoms = 0;
  bool periodic = false;
  // equipot models
  std::optional<equipot::Model> equipotModel;
  torch::Tensor species;
  // openmm-torch-convention modules
  torch::jit::Module module;
  bool outputsForces = false;
  std::vector<bool> globalNeedsGradient;
  int numDerivatives = 0;
  std::vector<int> derivativeGlobal;  // derivative d -> index of its global parameter
};

TorchModel::TorchModel(const TorchForce& force, int numAtoms) : impl(std::make_unique<Impl>()) {
  // torch's intra-op thread pool is process-wide, so this applies to every model (and
  // to torch in Python) from now on; TorchForce::setProperty has validated the value.
  const auto& properties = force.getProperties();
  if (const auto threads = properties.find("threads"); threads != properties.end())
    at::set_num_threads(std::stoi(threads->second));
  Impl& m = *impl;
  m.numAtoms = numAtoms;
  m.periodic = force.usesPeriodicBoundaryConditions();
  const std::string origin = force.getFile().empty() ? "<model bytes>" : force.getFile();
  if (force.isEquipotModel()) {
    try {
      m.equipotModel.emplace(equipot::Model::from_bytes(force.getModelBytes(), "cpu", origin));
      const auto& symbols = force.getElements();
      m.species = torch::empty({numAtoms}, torch::kInt64);
      auto* species = m.species.data_ptr<int64_t>();
      for (int a = 0; a < numAtoms; ++a) species[a] = m.equipotModel->species_index(symbols.at(a));
    } catch (const equipot::Error& error) {
      throw OpenMMException(std::string("TorchForce: ") + error.what());
    }
    return;
  }

  m.module = loadModule(force.getModelBytes(), origin);
  m.module.eval();
  const int numGlobals = force.getNumGlobalParameters();
  const auto arguments = forwardArguments(m.module, origin);
  const size_t expected = 1 + (m.periodic ? 1 : 0) + numGlobals;
  if (arguments.size() != expected) {
    std::string given;
    for (const auto& a : arguments) given += (given.empty() ? "" : ", ") + a;
    throw OpenMMException("TorchForce: the module's forward(" + given + ") takes " +
                          std::to_string(arguments.size()) + " argument(s), but this force passes " +
                          std::to_string(expected) + ": (" + argumentList(m.periodic, numGlobals) +
                          "); check setUsesPeriodicBoundaryConditions and the global parameters");
  }
  try {
    m.module = torch::jit::freeze(m.module);
  } catch (const c10::Error&) {
    // Already frozen, or not freezable: run it as it is.
  }
  m.outputsForces = force.getOutputsForces();
  m.globalNeedsGradient.assign(numGlobals, false);
  for (int d = 0; d < force.getNumEnergyParameterDerivatives(); ++d) {
    const std::string& name = force.getEnergyParameterDerivativeName(d);  // always one of the globals
    for (int g = 0; g < numGlobals; ++g)
      if (force.getGlobalParameterName(g) == name) {
        m.derivativeGlobal.push_back(g);
        m.globalNeedsGradient[g] = true;
        break;
      }
  }
  m.numDerivatives = force.getNumEnergyParameterDerivatives();
}

TorchModel::~TorchModel() = default;

double TorchModel::evaluate(const double* positions, const double* box, const std::vector<double>& globals,
                            bool includeForces, double* forces, std::vector<double>& derivatives) {
  Impl& m = *impl;
  const int64_t n = m.numAtoms;
  auto blob = torch::from_blob(const_cast<double*>(positions), {n, 3}, torch::kFloat64);

  if (m.equipotModel) {
    const auto angstrom = blob * kAngstromPerNm;
    const auto cell = m.periodic ? torch::from_blob(const_cast<double*>(box), {3, 3}, torch::kFloat64) * kAngstromPerNm
                                 : torch::zeros({3, 3}, torch::kFloat64);
    equipot::Evaluation result;
    try {
      result = m.equipotModel->evaluate_structure(angstrom, cell, {m.periodic, m.periodic, m.periodic}, m.species, {});
    } catch (const std::exception& error) {  // equipot::Error, or anything torch raised
      throw OpenMMException(std::string("TorchForce: ") + error.what());
    }
    if (includeForces) {
      const auto f = result.forces.contiguous();
      const double* eVPerAngstrom = f.data_ptr<double>();
      constexpr double factor = kKJPerMolPerEV * kAngstromPerNm;
      for (int64_t i = 0; i < 3 * n; ++i) forces[i] = factor * eVPerAngstrom[i];
    }
    derivatives.clear();
    return kKJPerMolPerEV * result.energy;
  }

  const bool positionGradient = includeForces && !m.outputsForces;
  const bool anyGradient = positionGradient || m.numDerivatives > 0;
  std::optional<torch::NoGradGuard> noGrad;
  if (!anyGradient) noGrad.emplace();

  // float64 inputs whatever the module's own dtype, as openmm-torch passes them on the
  // Reference and CPU platforms (the kernel's own buffers: nothing to copy).
  auto pos = blob;
  if (positionGradient) pos.requires_grad_(true);
  std::vector<torch::jit::IValue> inputs{pos};
  if (m.periodic) inputs.emplace_back(torch::from_blob(const_cast<double*>(box), {3, 3}, torch::kFloat64));
  std::vector<torch::Tensor> parameters;
  for (size_t g = 0; g < globals.size(); ++g) {
    auto value = torch::scalar_tensor(globals[g], torch::kFloat64);
    if (m.globalNeedsGradient[g]) value.requires_grad_(true);
    parameters.push_back(value);
    inputs.emplace_back(value);
  }

  torch::jit::IValue output;
  try {
    output = m.module.forward(inputs);
  } catch (const std::exception& error) {
    throw OpenMMException("TorchForce: the module's forward(" + argumentList(m.periodic, globals.size()) +
                          ") failed: " + summarize_torch_error(error));
  }

  torch::Tensor energy, outputForces;
  if (m.outputsForces) {
    if (!output.isTuple() || output.toTupleRef().elements().size() != 2 ||
        !output.toTupleRef().elements()[0].isTensor() || !output.toTupleRef().elements()[1].isTensor())
      throw OpenMMException(
          "TorchForce: setOutputsForces(true) was called, so forward must return (energy, forces) as two tensors");
    energy = output.toTupleRef().elements()[0].toTensor();
    outputForces = output.toTupleRef().elements()[1].toTensor();
    if (outputForces.dim() != 2 || outputForces.size(0) != n || outputForces.size(1) != 3)
      throw OpenMMException("TorchForce: the forces returned by the module have shape " +
                            c10::str(outputForces.sizes()) + "; expected [" + std::to_string(n) + ", 3]");
  } else {
    if (output.isTuple())
      throw OpenMMException(
          "TorchForce: the module returned a tuple; if it returns (energy, forces), call setOutputsForces(true)");
    if (!output.isTensor()) throw OpenMMException("TorchForce: the module must return the energy as a tensor");
    energy = output.toTensor();
  }
  if (energy.numel() != 1)
    throw OpenMMException("TorchForce: the module returned an energy with " + std::to_string(energy.numel()) +
                          " elements; it must return one number (the total energy in kJ/mol)");
  energy = energy.reshape({});

  std::vector<torch::Tensor> wrt;
  if (positionGradient) wrt.push_back(pos);
  for (int g : m.derivativeGlobal) wrt.push_back(parameters[g]);
  std::vector<torch::Tensor> gradients(wrt.size());
  if (!wrt.empty() && energy.requires_grad())
    gradients = torch::autograd::grad({energy}, wrt, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                      /*allow_unused=*/true);

  if (includeForces) {
    torch::Tensor f;
    if (m.outputsForces)
      f = outputForces.detach().to(torch::kFloat64).contiguous();
    else
      f = gradients[0].defined() ? (-gradients[0]).to(torch::kFloat64).contiguous()
                                 : torch::zeros({n, 3}, torch::kFloat64);
    std::memcpy(forces, f.data_ptr<double>(), sizeof(double) * 3 * n);
  }
  derivatives.assign(m.numDerivatives, 0.0);
  for (int d = 0; d < m.numDerivatives; ++d) {
    const auto& g = gradients[(positionGradient ? 1 : 0) + d];
    if (g.defined()) derivatives[d] = g.item<double>();
  }
  return energy.detach().item<double>();
}

}  // namespace EquipotOpenMM
