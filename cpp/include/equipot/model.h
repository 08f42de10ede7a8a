// A frozen equipot model (see export/SPEC.md) loaded with libtorch, and the one
// place where energies, forces and virials are assembled from edge gradients.
#pragma once
#include <torch/script.h>

#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace torch::inductor {
class AOTIModelPackageLoader;
}

namespace equipot {

// Newest model-file format this build reads (export/SPEC.md): 1 is a TorchScript
// archive, 2 an AOTInductor package.
constexpr int kFormatVersion = 2;

struct ModelMetadata {
  int format_version = 0;
  std::string architecture;
  std::vector<std::string> elements;  // species index -> element symbol
  double cutoff = 0.0;                // Angstrom
  int num_layers = 0;                 // message-passing layers (receptive field = layers * cutoff)
  std::string units;                  // "eV/Angstrom"
  std::string dtype;                  // "float32" or "float64"
  std::map<std::string, std::string> raw;  // every metadata entry as stored
};

struct Outputs {
  bool atom_energies = false;
  bool virial = false;
  bool atom_virial = false;
};

// All tensors are float64 on the CPU; those not requested are undefined.
struct Evaluation {
  double energy = 0.0;
  torch::Tensor forces;         // [N, 3] eV/A, on every atom given (ghosts included)
  torch::Tensor atom_energies;  // [N] eV (0 for atoms beyond n_owned)
  torch::Tensor virial;         // [3, 3] eV, W = -sum_e r_e (x) dE/dr_e
  torch::Tensor atom_virial;    // [N, 3, 3] eV, each edge's share split half/half
};

class Model {
 public:
  // Loads and validates a model file; throws equipot::Error naming the problem.
  explicit Model(const std::string& path, const std::string& device = "cpu");
  // Loads from the bytes of a model file (OpenMM serialization keeps them in XML);
  // `origin` names them in error messages.
  static Model from_bytes(const std::string& bytes, const std::string& device = "cpu",
                          const std::string& origin = "<model bytes>");
  ~Model();
  Model(const Model&) = default;
  Model(Model&&) = default;
  Model& operator=(const Model&) = default;
  Model& operator=(Model&&) = default;

  const ModelMetadata& metadata() const { return metadata_; }
  const torch::Device& device() const { return device_; }
  torch::ScalarType scalar_type() const { return scalar_type_; }

  // Species index of an element symbol; throws equipot::Error if the model lacks it.
  int64_t species_index(const std::string& element) const;

  // Evaluates a graph. species: [N] int64 species indices; edge_index: [2, E] int64
  // (row 0 = i, row 1 = j); edge_vectors: [E, 3] r_j - r_i in Angstrom (any float
  // dtype). Only atoms [0, n_owned) contribute energy (n_owned < 0: all atoms);
  // the others are ghosts that only carry messages.
  Evaluation evaluate(const torch::Tensor& species, const torch::Tensor& edge_index,
                      const torch::Tensor& edge_vectors, int64_t n_owned,
                      const Outputs& outputs) const;

  // Builds the neighbor list (C++ cell list) and evaluates a whole structure.
  // positions: [N,3] float64; cell: [3,3] rows are lattice vectors; pbc: 3 flags.
  Evaluation evaluate_structure(const torch::Tensor& positions, const torch::Tensor& cell,
                                const std::vector<bool>& pbc, const torch::Tensor& species,
                                const Outputs& outputs) const;

 private:
  Model() = default;
  // `path` is the file the bytes came from, or empty (a package is then written to a
  // temporary file for libtorch's loader, which reads only files).
  void load(const std::string& bytes, const std::string& origin, const std::string& device,
            const std::string& path);
  void load_package(const std::string& bytes, const std::string& origin, const std::string& path);
  void check_metadata(const std::string& origin);
  void check_forward(const std::string& origin);
  // Per-atom energies and dE/d edge_vectors (E the sum over the atoms with weight 1),
  // from the TorchScript module with autograd or from the compiled package.
  std::pair<torch::Tensor, torch::Tensor> energies_and_gradients(const torch::Tensor& species,
                                                                 const torch::Tensor& edge_index,
                                                                 const torch::Tensor& edge_vectors,
                                                                 int64_t n_owned) const;

  mutable torch::jit::Module module_;  // format 1
  std::shared_ptr<torch::inductor::AOTIModelPackageLoader> package_;  // format 2
  ModelMetadata metadata_;
  torch::Device device_{torch::kCPU};
  torch::ScalarType scalar_type_ = torch::kFloat64;
};


// The error message for a file that torch::jit::load rejected, shared by every front
// end. `bytes` are the file's contents, `origin` names it, `detail` is the loader's
// own error. A training checkpoint or another torch.save pickle (a common mistake)
// gets advice on what to pass instead; anything else is reported as corrupt or
// truncated, with `detail`.
std::string explain_unloadable(const std::string& bytes, const std::string& origin, const std::string& detail);

// The useful part of an exception thrown by torch, for messages of every front end:
// its first line (without the C++ backtrace of a c10::Error), except for errors of the
// TorchScript interpreter (a model's forward raising, an op failing inside it), whose
// first line is generic and whose last line names the failure.
std::string summarize_torch_error(const std::exception& error);

// Whether `bytes` are a model written by export_model (a TorchScript archive or an
// AOTInductor package carrying equipot metadata), told without loading it.
bool has_equipot_metadata(const std::string& bytes);

// Metadata keys stored as TorchScript extra files (export/SPEC.md).
const std::vector<std::string>& metadata_keys();

}  // namespace equipot
