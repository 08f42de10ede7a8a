// equipot._core: the C++ core as seen from Python. Arrays cross as numpy (float64 /
// int64), so the module does not depend on torch's own Python bindings.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <torch/headeronly/version.h>

#include "equipot/elements.h"
#include "equipot/errors.h"
#include "equipot/memory_pool.h"
#include "equipot/model.h"
#include "equipot/neighbor_list.h"
#include "equipot/units.h"

namespace py = pybind11;
using equipot::Model;

namespace {

using Doubles = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Longs = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// Integer inputs (species, edge_index) must be integer arrays: a float array would be
// truncated silently by a cast.
Longs as_longs(const py::array& array, const char* what) {
  const char kind = array.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw equipot::Error(std::string(what) + " must be an integer array, got dtype " +
                         py::str(array.dtype()).cast<std::string>());
  return Longs::ensure(array);
}

torch::Tensor as_tensor(const py::array& array, torch::ScalarType type) {
  std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
  return torch::from_blob(const_cast<void*>(array.data()), shape, type).clone();
}

py::array to_numpy(const torch::Tensor& tensor) {
  const auto t = tensor.contiguous();
  std::vector<py::ssize_t> shape(t.sizes().begin(), t.sizes().end());
  if (t.scalar_type() == torch::kInt64) {
    py::array_t<int64_t> out(shape);
    std::memcpy(out.mutable_data(), t.data_ptr<int64_t>(), t.numel() * sizeof(int64_t));
    return out;
  }
  py::array_t<double> out(shape);
  std::memcpy(out.mutable_data(), t.to(torch::kFloat64).data_ptr<double>(), t.numel() * sizeof(double));
  return out;
}

py::dict to_dict(const equipot::Evaluation& result) {
  py::dict out;
  out["energy"] = result.energy;
  out["forces"] = to_numpy(result.forces);
  if (result.atom_energies.defined()) out["atom_energies"] = to_numpy(result.atom_energies);
  if (result.virial.defined()) out["virial"] = to_numpy(result.virial);
  if (result.atom_virial.defined()) out["atom_virial"] = to_numpy(result.atom_virial);
  return out;
}

std::vector<bool> as_pbc(const py::object& pbc) {
  std::vector<bool> flags;
  for (auto item : pbc) flags.push_back(item.cast<bool>());
  if (flags.size() != 3) throw equipot::Error("pbc must have three entries");
  return flags;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "equipot C++ core: frozen-model loading, neighbor lists, energies, forces and virials";
  // The core links the libtorch it was built against; a different torch in the same
  // process would mean two incompatible libtorch ABIs, so refuse to import.
  const std::string built_with = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                                 "." + std::to_string(TORCH_VERSION_PATCH);
  const auto installed = py::module_::import("torch").attr("__version__").cast<std::string>();
  if (installed.substr(0, installed.find('+')) != built_with)
    throw py::import_error("equipot's C++ core was built against torch " + built_with + " but torch " + installed +
                           " is installed; rebuild equipot (pip install --no-build-isolation .)");
  py::register_exception<equipot::Error>(m, "EquipotError", PyExc_RuntimeError);
  m.attr("FORMAT_VERSION") = equipot::kFormatVersion;
  m.attr("TORCH_VERSION") = built_with;

  m.attr("KJ_PER_MOL_PER_EV") = equipot::kKJPerMolPerEV;
  m.attr("ANGSTROM_PER_NM") = equipot::kAngstromPerNm;

  m.def("atomic_number", &equipot::atomic_number, py::arg("symbol"));
  m.def(
      "species_indices",
      [](const std::vector<std::string>& symbols, const std::vector<std::string>& elements) {
        py::array_t<int64_t> out(static_cast<py::ssize_t>(symbols.size()));
        for (size_t a = 0; a < symbols.size(); ++a) out.mutable_data()[a] = equipot::species_index(elements, symbols[a]);
        return out;
      },
      py::arg("symbols"), py::arg("elements"),
      "Index of each symbol in a model's element list (int64); an unknown element is an EquipotError.");
  m.def("metadata_keys", &equipot::metadata_keys, "Metadata keys of the model-file format (export/SPEC.md).");

  m.def(
      "memory_pool_stats",
      [] {
        const auto s = equipot::memory_pool_stats();
        py::dict out;
        out["enabled"] = s.enabled;
        out["cached_bytes"] = s.cached_bytes;
        out["in_use_bytes"] = s.in_use_bytes;
        out["last_peak_bytes"] = s.last_peak_bytes;
        out["last_working_set_bytes"] = s.last_working_set_bytes;
        out["reused"] = s.reused;
        out["allocated"] = s.allocated;
        return out;
      },
      "The core's pool of evaluation buffers (cpp/include/equipot/memory_pool.h): bytes cached and in "
      "use, the last evaluation's peak and working set (what the cache keeps), and how many allocations it "
      "served from the cache or anew.");
  m.def(
      "neighbor_list",
      [](Doubles positions, Doubles cell, py::object pbc, double cutoff) {
        if (positions.ndim() != 2 || positions.shape(1) != 3)
          throw equipot::Error("positions must have shape [N, 3]");
        if (cell.ndim() != 2 || cell.shape(0) != 3 || cell.shape(1) != 3)
          throw equipot::Error("cell must have shape [3, 3]");
        const auto flags = as_pbc(pbc);
        const bool periodic[3] = {flags[0], flags[1], flags[2]};
        equipot::NeighborList list;
        {
          py::gil_scoped_release release;
          list = equipot::build_neighbor_list(positions.data(), positions.shape(0), cell.data(), periodic, cutoff);
        }
        const auto e = static_cast<py::ssize_t>(list.num_edges());
        Longs edge_index({py::ssize_t(2), e}), shifts({e, py::ssize_t(3)});
        std::copy(list.first.begin(), list.first.end(), edge_index.mutable_data());
        std::copy(list.second.begin(), list.second.end(), edge_index.mutable_data() + e);
        std::copy(list.shifts.begin(), list.shifts.end(), shifts.mutable_data());
        return py::make_tuple(edge_index, shifts);
      },
      py::arg("positions"), py::arg("cell"), py::arg("pbc"), py::arg("cutoff"),
      "Full directed neighbor list: (edge_index [2,E], shifts [E,3]); edge vector = "
      "positions[j] - positions[i] + shifts @ cell.");

  py::class_<Model>(m, "Model")
      .def(py::init<const std::string&, const std::string&>(), py::arg("path"), py::arg("device") = "cpu")
      .def_static(
          "from_bytes", [](py::bytes data, const std::string& device) { return Model::from_bytes(data, device); },
          py::arg("data"), py::arg("device") = "cpu")
      .def_property_readonly("elements", [](const Model& model) { return model.metadata().elements; })
      .def_property_readonly("cutoff", [](const Model& model) { return model.metadata().cutoff; })
      .def_property_readonly("num_layers", [](const Model& model) { return model.metadata().num_layers; })
      .def_property_readonly("dtype", [](const Model& model) { return model.metadata().dtype; })
      .def_property_readonly("format_version", [](const Model& model) { return model.metadata().format_version; })
      .def_property_readonly("architecture", [](const Model& model) { return model.metadata().architecture; })
      .def_property_readonly("metadata", [](const Model& model) { return model.metadata().raw; })
      .def(
          "species",
          [](const Model& model, const std::vector<std::string>& symbols) {
            Longs out(static_cast<py::ssize_t>(symbols.size()));
            for (size_t a = 0; a < symbols.size(); ++a) out.mutable_data()[a] = model.species_index(symbols[a]);
            return out;
          },
          py::arg("symbols"), "Species indices of element symbols (error for an element the model lacks).")
      .def(
          "evaluate_structure",
          [](const Model& model, Doubles positions, Doubles cell, py::object pbc, py::array species,
             bool atom_energies, bool virial, bool atom_virial) {
            auto pos = as_tensor(positions, torch::kFloat64);
            auto box = as_tensor(cell, torch::kFloat64);
            auto spec = as_tensor(as_longs(species, "species"), torch::kInt64);
            const auto flags = as_pbc(pbc);
            equipot::Evaluation result;
            {
              py::gil_scoped_release release;
              result = model.evaluate_structure(pos, box, flags, spec, {atom_energies, virial, atom_virial});
            }
            return to_dict(result);
          },
          py::arg("positions"), py::arg("cell"), py::arg("pbc"), py::arg("species"),
          py::arg("atom_energies") = false, py::arg("virial") = false, py::arg("atom_virial") = false,
          "Energy (eV), forces (eV/A) and optionally per-atom energies, virial and per-atom virial "
          "(eV) of a structure, with the C++ neighbor list.")
      .def(
          "evaluate_graph",
          [](const Model& model, py::array species, py::array edge_index, Doubles edge_vectors, int64_t n_owned,
             bool atom_energies, bool virial, bool atom_virial) {
            auto spec = as_tensor(as_longs(species, "species"), torch::kInt64);
            auto edges = as_tensor(as_longs(edge_index, "edge_index"), torch::kInt64);
            auto vectors = as_tensor(edge_vectors, torch::kFloat64);
            equipot::Evaluation result;
            {
              py::gil_scoped_release release;
              result = model.evaluate(spec, edges, vectors, n_owned, {atom_energies, virial, atom_virial});
            }
            return to_dict(result);
          },
          py::arg("species"), py::arg("edge_index"), py::arg("edge_vectors"), py::arg("n_owned") = -1,
          py::arg("atom_energies") = false, py::arg("virial") = false, py::arg("atom_virial") = false,
          "Evaluate a given graph; only atoms [0, n_owned) contribute energy.");
}
