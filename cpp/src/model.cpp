#include "equipot/model.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <tuple>

#include "equipot/elements.h"
#include "equipot/errors.h"
#include "equipot/memory_pool.h"
#include "equipot/neighbor_list.h"

namespace equipot {
namespace {

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream stream(text);
  std::vector<std::string> words;
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

int parse_integer(const std::string& key, const std::string& value, const std::string& origin) {
  try {
    size_t used = 0;
    const long long x = std::stoll(value, &used);
    if (used == value.size() && x >= std::numeric_limits<int>::min() && x <= std::numeric_limits<int>::max())
      return static_cast<int>(x);
  } catch (const std::exception&) {
  }
  throw Error("model file '" + origin + "': metadata '" + key + "' = '" + value + "' is not an integer");
}

double parse_number(const std::string& key, const std::string& value, const std::string& origin) {
  try {
    size_t used = 0;
    double x = std::stod(value, &used);
    if (used == value.size()) return x;
  } catch (const std::exception&) {
  }
  throw Error("model file '" + origin + "': metadata '" + key + "' = '" + value + "' is not a number");
}

// A format-2 model file is an AOTInductor package: a zip archive whose records sit under
// one folder, with archive_format = "pt2" (export/SPEC.md).
bool is_package(const std::string& bytes) {
  try {
    std::istringstream stream(bytes);
    caffe2::serialize::PyTorchStreamReader reader(&stream);
    if (!reader.hasRecord("archive_format")) return false;
    const auto [data, size] = reader.getRecord("archive_format");
    return std::string(static_cast<const char*>(data.get()), size) == "pt2";
  } catch (const std::exception&) {
    return false;
  }
}

// The text of a package's metadata record (JSON; "" if it has none).
std::string package_metadata_text(const std::string& bytes) {
  try {
    std::istringstream stream(bytes);
    caffe2::serialize::PyTorchStreamReader reader(&stream);
    for (const auto& name : reader.getAllRecords()) {
      if (name.rfind("data/aotinductor/model/", 0) != 0) continue;
      if (name.size() < 14 || name.compare(name.size() - 14, 14, "_metadata.json") != 0) continue;
      const auto [data, size] = reader.getRecord(name);
      return std::string(static_cast<const char*>(data.get()), size);
    }
  } catch (const std::exception&) {
  }
  return "";
}

// libtorch's package loader reads only files: bytes without a file (OpenMM keeps a
// model's bytes in its XML) go through a temporary one, removed when this goes away.
class TemporaryFile {
 public:
  explicit TemporaryFile(const std::string& bytes) {
    std::string name = (std::filesystem::temp_directory_path() / "equipot-model-XXXXXX.pt2").string();
    const int fd = mkstemps(name.data(), 4);
    if (fd < 0) throw Error("could not create a temporary file in " + std::filesystem::temp_directory_path().string() +
                            " to load the model package from");
    path_ = name;
    const bool written = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
    ::close(fd);
    if (!written) throw Error("could not write the model package to the temporary file " + path_);
  }
  ~TemporaryFile() { std::remove(path_.c_str()); }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Whether this CPU has the instruction set a CPU package was compiled for (its
// AOTI_CPU_ISA metadata, e.g. "AVX512 AVX512_VNNI"): running it elsewhere would stop
// the process with an illegal instruction. Returns the first missing feature, or "".
std::string missing_cpu_feature(const std::string& isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  for (const auto& feature : split_words(isa)) {
    bool present = false;
    if (feature == "AVX2") {
      present = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    } else if (feature == "AVX512") {
      present = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    } else if (feature == "AVX512_VNNI") {
      present = __builtin_cpu_supports("avx512vnni");
    } else if (feature == "AVX512_BF16") {
      present = __builtin_cpu_supports("avx512bf16");
    }  // anything else (AMX, other machines' sets) cannot be checked here: refused
    if (!present) return feature;
  }
#else
  if (!isa.empty()) return isa;
#endif
  return "";
}

}  // namespace

const std::vector<std::string>& metadata_keys() {
  static const std::vector<std::string> keys = {
      "equipot_format_version", "architecture", "hyperparameters", "elements", "cutoff",
      "num_layers", "units", "dtype", "equipot_version", "checkpoint_sha256"};
  return keys;
}

std::string summarize_torch_error(const std::exception& error) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&error);
  const std::string text = torch_error != nullptr ? torch_error->what_without_backtrace() : error.what();
  const std::string first = text.substr(0, text.find('\n'));
  if (first.find("TorchScript interpreter") == std::string::npos) return first;
  std::string last;  // the last non-blank line (the first line is one)
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.find_first_not_of(" \t") != std::string::npos) last = line;
  return last.substr(last.find_first_not_of(" \t"));
}

bool has_equipot_metadata(const std::string& bytes) {
  if (is_package(bytes)) return package_metadata_text(bytes).find("\"equipot_format_version\"") != std::string::npos;
  static const std::string record = "extra/equipot_format_version";  // a metadata_keys() entry
  try {
    std::istringstream stream(bytes);
    caffe2::serialize::PyTorchStreamReader reader(&stream);
    return reader.hasRecord(record) && std::get<1>(reader.getRecord(record)) > 0;
  } catch (const std::exception&) {
    return false;  // not a readable archive: torch::jit::load will say why
  }
}

std::string explain_unloadable(const std::string& bytes, const std::string& origin, const std::string& detail) {
  const std::string where = "model file '" + origin + "'";
  // torch.save writes the same zip archive as torch.jit.save, with the pickled objects
  // in data.pkl but without the code/ records that make a TorchScript module. Before
  // torch 1.6 it wrote a bare pickle that starts with this magic number.
  static const std::string legacy_magic = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
  bool pickled = bytes.compare(0, legacy_magic.size(), legacy_magic) == 0;
  std::string pickle = pickled ? bytes : "";
  try {
    std::istringstream stream(bytes);
    caffe2::serialize::PyTorchStreamReader reader(&stream);
    const auto records = reader.getAllRecords();
    const bool code = std::any_of(records.begin(), records.end(),
                                  [](const std::string& name) { return name.rfind("code/", 0) == 0; });
    if (!code && reader.hasRecord("data.pkl")) {
      const auto [data, size] = reader.getRecord("data.pkl");
      pickled = true;
      pickle.assign(static_cast<const char*>(data.get()), size);
    }
  } catch (const std::exception&) {
    // Not a readable zip archive.
  }
  // Pickles store dict keys as plain text; equipot checkpoints have these two.
  if (pickled && pickle.find("model_state") != std::string::npos &&
      pickle.find("hyperparameters") != std::string::npos) {
    const std::string checkpoint = origin.empty() || origin[0] == '<' ? "checkpoint.pt" : origin;
    return where + " is a training checkpoint written by 'equipot train' or 'equipot convert', not an "
                   "exported model: run 'export_model " + checkpoint + " -o model.pt' and use model.pt";
  }
  // A damaged package: zip's local headers, which name the records, survive truncation.
  if (!pickled && bytes.find("/data/aotinductor/") != std::string::npos)
    return "could not read " + where + " as an AOTInductor package (format 2; corrupt or truncated?): " + detail;
  if (pickled)
    return where + " was written by torch.save (pickled Python objects), not a TorchScript model: save an "
                   "equipot model with export_model, or a torch module with torch.jit.save(torch.jit.script(module))";
  return "could not read " + where + " as a TorchScript archive (corrupt, truncated or not a model file?): " +
         detail;
}

Model::Model(const std::string& path, const std::string& device) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error("model file '" + path + "' does not exist or cannot be read");
  std::ostringstream bytes;  // models are small; the bytes are kept to explain a failure
  bytes << file.rdbuf();
  load(bytes.str(), path, device, path);
}

Model Model::from_bytes(const std::string& bytes, const std::string& device, const std::string& origin) {
  Model model;
  model.load(bytes, origin, device, "");
  return model;
}

Model::~Model() = default;

void Model::load(const std::string& bytes, const std::string& origin, const std::string& device,
                 const std::string& path) {
  memory_pool_enabled();  // large buffers are reused from one evaluation to the next
  try {
    device_ = torch::Device(device);
  } catch (const c10::Error&) {
    throw Error("unknown device '" + device + "' (use cpu, cuda or cuda:N)");
  }
  if (device_.is_cuda() && !torch::cuda::is_available())
    throw Error("device '" + device + "' requested but this libtorch has no usable CUDA device");
  if (device_.is_cuda() && device_.has_index() && device_.index() >= static_cast<int>(torch::cuda::device_count()))
    throw Error("device '" + device + "' requested but only " +
                std::to_string(torch::cuda::device_count()) + " CUDA device(s) are visible");

  if (is_package(bytes)) {
    load_package(bytes, origin, path);
  } else {
    torch::jit::ExtraFilesMap extra;
    for (const auto& key : metadata_keys()) extra[key] = "";
    try {
      std::istringstream stream(bytes);
      module_ = torch::jit::load(stream, device_, extra);
    } catch (const std::exception& e) {
      throw Error(explain_unloadable(bytes, origin, summarize_torch_error(e)));
    }
    module_.eval();
    for (const auto& [key, value] : extra) metadata_.raw[key] = value;
  }
  check_metadata(origin);
  check_forward(origin);
}

void Model::load_package(const std::string& bytes, const std::string& origin, const std::string& path) {
  using torch::inductor::AOTIModelPackageLoader;
  const std::string where = "model file '" + origin + "'";
  std::unique_ptr<TemporaryFile> temporary;
  if (path.empty()) temporary = std::make_unique<TemporaryFile>(bytes);
  const std::string& file = path.empty() ? temporary->path() : path;
  // The compiled code's machine is checked before it is loaded: code for another
  // device or instruction set must be refused, not run.
  std::unordered_map<std::string, std::string> stored;
  try {
    stored = AOTIModelPackageLoader::load_metadata_from_package(file, "model");
  } catch (const std::exception& e) {
    throw Error("could not read " + where + " as an AOTInductor package (corrupt or truncated?): " +
                summarize_torch_error(e));
  }
  const std::string compiled_for = stored.count("AOTI_DEVICE_KEY") ? stored.at("AOTI_DEVICE_KEY") : "";
  if (compiled_for != (device_.is_cuda() ? "cuda" : "cpu"))
    throw Error(where + " was compiled for device '" + compiled_for + "' but is loaded for '" + device_.str() +
                "': export it with export_model --format aoti on the device it will run on, or use the "
                "TorchScript format, which runs on any device");
  if (device_.is_cpu()) {
    const std::string isa = stored.count("AOTI_CPU_ISA") ? stored.at("AOTI_CPU_ISA") : "";
    const std::string missing = missing_cpu_feature(isa);
    if (!missing.empty())
      throw Error(where + " was compiled for CPUs with " + isa + " instructions, and this CPU lacks " + missing +
                  ": export it again on this kind of machine, or use the TorchScript format");
  }
  try {
    package_ = std::make_shared<AOTIModelPackageLoader>(file, "model", false, 1,
                                                        device_.is_cuda() ? device_.index() : -1);
  } catch (const std::exception& e) {
    throw Error("could not load " + where + " as an AOTInductor package (corrupt or truncated?): " +
                summarize_torch_error(e));
  }
  for (const auto& key : metadata_keys()) metadata_.raw[key] = stored.count(key) ? stored.at(key) : "";
}

void Model::check_metadata(const std::string& origin) {
  const auto& raw = metadata_.raw;
  const std::string where = "model file '" + origin + "'";
  if (raw.at("equipot_format_version").empty())
    throw Error(where + " has no equipot metadata: it is not a model written by export_model");
  metadata_.format_version = parse_integer("equipot_format_version", raw.at("equipot_format_version"), origin);
  if (metadata_.format_version < 1 || metadata_.format_version > kFormatVersion)
    throw Error(where + " has format version " + std::to_string(metadata_.format_version) +
                ", but this build of equipot reads versions 1 to " + std::to_string(kFormatVersion) +
                ": upgrade equipot or re-export the model");
  const int container_version = package_ ? 2 : 1;  // what the file is, whatever it says
  if (metadata_.format_version != container_version)
    throw Error(where + " is " + (package_ ? "an AOTInductor package (format 2)" : "a TorchScript archive (format 1)") +
                " but its metadata says format version " + std::to_string(metadata_.format_version));
  for (const char* key : {"elements", "cutoff", "num_layers", "dtype"})
    if (raw.at(key).empty()) throw Error(where + " lacks the metadata entry '" + key + "'");

  metadata_.architecture = raw.at("architecture");
  metadata_.units = raw.at("units");
  metadata_.elements = split_words(raw.at("elements"));
  for (const auto& element : metadata_.elements)
    if (atomic_number(element) == 0)
      throw Error(where + " lists '" + element + "', which is not a chemical element symbol");
  metadata_.cutoff = parse_number("cutoff", raw.at("cutoff"), origin);
  if (!(metadata_.cutoff > 0.0) || !std::isfinite(metadata_.cutoff))
    throw Error(where + " has a cutoff that is not a positive finite number");
  metadata_.num_layers = parse_integer("num_layers", raw.at("num_layers"), origin);
  if (metadata_.num_layers < 1) throw Error(where + " has fewer than one message-passing layer");
  if (!metadata_.units.empty() && metadata_.units != "eV/Angstrom")
    throw Error(where + " uses units '" + metadata_.units + "'; only eV/Angstrom is supported");
  metadata_.dtype = raw.at("dtype");
  if (metadata_.dtype == "float32") {
    scalar_type_ = torch::kFloat32;
  } else if (metadata_.dtype == "float64") {
    scalar_type_ = torch::kFloat64;
  } else {
    throw Error(where + " has dtype '" + metadata_.dtype + "'; expected float32 or float64");
  }
  // The compiled code does not check its inputs: it must be given tensors of the dtype
  // it was compiled for, which its weights show.
  if (package_) {
    for (const auto& [name, code] : package_->get_runner()->getConstantNamesToDtypes()) {
      const auto weight_type = static_cast<c10::ScalarType>(code);
      if (c10::isFloatingType(weight_type) && weight_type != scalar_type_)
        throw Error(where + ": metadata says dtype " + metadata_.dtype + " but the compiled model's weights are " +
                    std::string(c10::toString(weight_type)));
    }
  }
}

// One forward pass on a two-atom graph, so that a module with the wrong signature or
// output is reported when it is loaded rather than in the middle of a simulation.
void Model::check_forward(const std::string& origin) {
  auto species = torch::zeros({2}, torch::kInt64).to(device_);
  auto edge_index = torch::tensor({0, 1, 1, 0}, torch::kInt64).view({2, 2}).to(device_);
  const double r = 0.5 * metadata_.cutoff;
  auto vectors = torch::tensor({r, 0.0, 0.0, -r, 0.0, 0.0}, torch::kFloat64).view({2, 3});
  vectors = vectors.to(device_, scalar_type_);
  const std::string call = package_ ? "the compiled model" : "forward(species, edge_index, edge_vectors)";
  torch::Tensor out, gradients;
  try {
    torch::NoGradGuard no_grad;
    if (package_) {
      const auto weights = torch::ones({2}, vectors.options());
      const auto results = package_->run({species, edge_index, vectors, weights});
      if (results.size() != 2) throw Error("returned " + std::to_string(results.size()) + " tensors instead of 2");
      out = results[0];
      gradients = results[1];
    } else {
      torch::jit::GraphOptimizerEnabledGuard plain_execution(false);  // as in evaluate()
      auto result = module_.forward({species, edge_index, vectors});
      if (!result.isTensor()) throw Error("it returned something other than a tensor");
      out = result.toTensor();
    }
  } catch (const Error& e) {
    throw Error("model file '" + origin + "': " + call + " " + e.what());
  } catch (const std::exception& e) {  // c10::Error, or the TorchScript interpreter's own
    throw Error("model file '" + origin + "': " + call + " fails on a two-atom test graph: " +
                summarize_torch_error(e));
  }
  if (out.dim() != 1 || out.size(0) != 2)
    throw Error("model file '" + origin + "': " + call + " must return per-atom energies of shape [N]");
  if (gradients.defined() && (gradients.dim() != 2 || gradients.size(0) != 2 || gradients.size(1) != 3))
    throw Error("model file '" + origin + "': " + call + " must return edge gradients of shape [E, 3]");
  if (out.scalar_type() != scalar_type_)
    throw Error("model file '" + origin + "': metadata says dtype " + metadata_.dtype +
                " but the model computes in " + std::string(c10::toString(out.scalar_type())));
}

int64_t Model::species_index(const std::string& element) const {
  return equipot::species_index(metadata_.elements, element);
}

Evaluation Model::evaluate(const torch::Tensor& species, const torch::Tensor& edge_index,
                           const torch::Tensor& edge_vectors, int64_t n_owned,
                           const Outputs& outputs) const {
  const EvaluationMemoryScope pooled;  // this call's large buffers come from the pool
  if (species.dim() != 1 || species.scalar_type() != torch::kInt64)
    throw Error("species must be a 1-D int64 tensor");
  const int64_t n = species.size(0);
  if (n == 0) throw Error("the structure has no atoms");
  if (n_owned < 0) n_owned = n;
  if (n_owned > n) throw Error("more owned atoms than atoms");
  if (edge_index.dim() != 2 || edge_index.size(0) != 2 || edge_index.scalar_type() != torch::kInt64)
    throw Error("edge_index must be an int64 tensor of shape [2, E]");
  const int64_t num_edges = edge_index.size(1);
  if (edge_vectors.dim() != 2 || edge_vectors.size(0) != num_edges || edge_vectors.size(1) != 3)
    throw Error("edge_vectors must have shape [E, 3] matching edge_index");
  const int64_t num_species = static_cast<int64_t>(metadata_.elements.size());
  if (species.min().item<int64_t>() < 0 || species.max().item<int64_t>() >= num_species)
    throw Error("species index out of range: the model has " + std::to_string(num_species) + " elements");
  if (num_edges > 0 && (edge_index.min().item<int64_t>() < 0 || edge_index.max().item<int64_t>() >= n))
    throw Error("edge_index refers to an atom that does not exist");
  if (!torch::isfinite(edge_vectors).all().item<bool>())
    throw Error("edge vectors are not finite (NaN or inf atom positions?)");

  auto [atom_energies, gradient] = energies_and_gradients(species, edge_index, edge_vectors, n_owned);
  if (!torch::isfinite(gradient).all().item<bool>()) throw Error("the model returned non-finite forces");

  Evaluation result;
  result.energy = atom_energies.narrow(0, 0, n_owned).sum().item<double>();
  if (!std::isfinite(result.energy)) throw Error("the model returned a non-finite energy");
  // E depends on r_e = x_j - x_i, so dE/dx_j = g_e and dE/dx_i = -g_e.
  const auto first = edge_index[0].to(torch::kCPU), second = edge_index[1].to(torch::kCPU);
  result.forces = torch::zeros({n, 3}, torch::kFloat64);
  result.forces.index_add_(0, first, gradient).index_add_(0, second, -gradient);
  if (outputs.atom_energies) {
    result.atom_energies = torch::zeros({n}, torch::kFloat64);
    result.atom_energies.narrow(0, 0, n_owned)
        .copy_(atom_energies.narrow(0, 0, n_owned));
  }
  if (outputs.virial || outputs.atom_virial) {
    const auto r = edge_vectors.detach().to(torch::kCPU, torch::kFloat64);
    const auto edge_virial = -r.unsqueeze(2) * gradient.unsqueeze(1);  // [E, 3, 3]
    if (outputs.virial) result.virial = edge_virial.sum(0);
    if (outputs.atom_virial) {
      const auto half = 0.5 * edge_virial;
      result.atom_virial = torch::zeros({n, 3, 3}, torch::kFloat64);
      result.atom_virial.index_add_(0, first, half).index_add_(0, second, half);
    }
  }
  return result;
}

std::pair<torch::Tensor, torch::Tensor> Model::energies_and_gradients(const torch::Tensor& species,
                                                                      const torch::Tensor& edge_index,
                                                                      const torch::Tensor& edge_vectors,
                                                                      int64_t n_owned) const {
  const int64_t n = species.size(0), num_edges = edge_index.size(1);
  torch::Tensor atom_energies, gradient;
  try {
    if (package_) {
      // The compiled code takes contiguous inputs and returns d(sum_i w_i e_i)/dr_e.
      torch::NoGradGuard no_grad;
      const auto vectors = edge_vectors.to(device_, scalar_type_).contiguous();
      auto weights = torch::zeros({n}, vectors.options());
      weights.narrow(0, 0, n_owned).fill_(1.0);
      const auto results = package_->run(
          {species.to(device_).contiguous(), edge_index.to(device_).contiguous(), vectors, weights});
      atom_energies = results.at(0);
      gradient = results.at(1);
    } else {
      auto vectors = edge_vectors.to(device_, scalar_type_).detach().requires_grad_(true);
      // The frozen graph runs op by op, as the eager model does. With the graph
      // executor's optimisations on, a call that needs gradients gets a plan whose
      // autodiff subgraphs replace native backward kernels by TorchScript formulas
      // (softplus's backward as separate where/gt/exp/div/sub/mul passes): 1.1-1.4x
      // slower than eager, unless a no-grad call happened to come first. The guard is
      // thread-local and scoped to this call; other TorchScript in the process keeps
      // its settings.
      torch::jit::GraphOptimizerEnabledGuard plain_execution(false);
      atom_energies = module_.forward({species.to(device_), edge_index.to(device_), vectors}).toTensor();
      if (atom_energies.dim() == 1 && atom_energies.size(0) == n) {
        const auto energy = atom_energies.narrow(0, 0, n_owned).sum();
        if (num_edges > 0 && energy.requires_grad())
          gradient = torch::autograd::grad({energy}, {vectors}, {}, false, false, /*allow_unused=*/true)[0];
      }
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {  // c10::Error, or the TorchScript interpreter's own
    throw Error("model evaluation failed: " + summarize_torch_error(e));
  }
  if (atom_energies.dim() != 1 || atom_energies.size(0) != n)
    throw Error("the model returned per-atom energies of the wrong shape");
  gradient = gradient.defined() ? gradient.detach().to(torch::kCPU, torch::kFloat64)
                                : torch::zeros({num_edges, 3}, torch::kFloat64);
  return {atom_energies.detach().to(torch::kCPU, torch::kFloat64), gradient};
}

Evaluation Model::evaluate_structure(const torch::Tensor& positions, const torch::Tensor& cell,
                                     const std::vector<bool>& pbc, const torch::Tensor& species,
                                     const Outputs& outputs) const {
  if (positions.dim() != 2 || positions.size(1) != 3) throw Error("positions must have shape [N, 3]");
  if (positions.size(0) == 0) throw Error("the structure has no atoms");
  if (species.dim() != 1 || species.size(0) != positions.size(0))
    throw Error("species and positions disagree on the number of atoms");
  if (cell.dim() != 2 || cell.size(0) != 3 || cell.size(1) != 3) throw Error("cell must have shape [3, 3]");
  if (pbc.size() != 3) throw Error("pbc must have three entries");
  const auto pos = positions.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto box = cell.to(torch::kCPU, torch::kFloat64).contiguous();
  const bool periodic[3] = {pbc[0], pbc[1], pbc[2]};
  const NeighborList list =
      build_neighbor_list(pos.data_ptr<double>(), pos.size(0), box.data_ptr<double>(), periodic, metadata_.cutoff);
  const int64_t e = list.num_edges();
  auto edge_index = torch::empty({2, e}, torch::kInt64);
  std::copy(list.first.begin(), list.first.end(), edge_index.data_ptr<int64_t>());
  std::copy(list.second.begin(), list.second.end(), edge_index.data_ptr<int64_t>() + e);
  auto shifts = torch::from_blob(const_cast<int64_t*>(list.shifts.data()), {e, 3}, torch::kInt64)
                    .to(torch::kFloat64);
  auto vectors = pos.index_select(0, edge_index[1]) - pos.index_select(0, edge_index[0]) + shifts.matmul(box);
  return evaluate(species.to(torch::kInt64), edge_index, vectors, -1, outputs);
}

}  // namespace equipot
