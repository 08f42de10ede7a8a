// C++ test of the core against the golden files in export/golden: a format-version-1
// model file must keep loading and give the energy, forces and virial that the Python
// model computed when the file was written. Also checks the neighbor list and errors.
// Usage: equipot_core_tests <path to export/golden>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "equipot/errors.h"
#include "equipot/model.h"
#include "equipot/neighbor_list.h"

namespace {

int passed = 0, failed = 0;

void check(bool ok, const std::string& what) {
  (ok ? passed : failed)++;
  std::cout << (ok ? "PASS " : "FAIL ") << what << "\n";
}

void expect_error(const std::function<void()>& action, const std::string& fragment, const std::string& what) {
  try {
    action();
    check(false, what + " (no error raised)");
  } catch (const equipot::Error& e) {
    const bool ok = std::string(e.what()).find(fragment) != std::string::npos;
    if (!ok) std::cout << "  message was: " << e.what() << "\n";
    check(ok, what);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: equipot_core_tests <export/golden directory>\n";
    return 2;
  }
  const std::string dir = argv[1];
  std::ifstream structure(dir + "/structure.txt");
  if (!structure) {
    std::cerr << "cannot read golden files in " << dir << "\n";
    return 2;
  }
  int64_t n;
  structure >> n;
  auto cell = torch::empty({3, 3}, torch::kFloat64);
  for (int k = 0; k < 9; ++k) structure >> cell.data_ptr<double>()[k];
  std::vector<bool> pbc(3);
  for (int k = 0; k < 3; ++k) {
    int flag;
    structure >> flag;
    pbc[k] = flag != 0;
  }
  auto species = torch::empty({n}, torch::kInt64);
  auto positions = torch::empty({n, 3}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    structure >> species.data_ptr<int64_t>()[i];
    for (int d = 0; d < 3; ++d) structure >> positions.data_ptr<double>()[3 * i + d];
  }
  // The same model in both formats: format 1 (TorchScript) and format 2 (AOTInductor
  // package, compiled for AVX2 so that it loads on any x86-64 machine of the last decade).
  // Each has its expected values (make_golden.py says why they differ in round-off).
  int64_t expected_edges = -1;
  for (const auto& [file, version, expected_file] : std::vector<std::tuple<std::string, int, std::string>>{
           {"schnet_cuni_f64.pt", 1, "expected.txt"}, {"schnet_cuni_f64.pt2", 2, "expected_pt2.txt"}}) {
    const std::string name = file + ": ";
    std::ifstream expected(dir + "/" + expected_file);
    if (!expected) {
      std::cerr << "cannot read " << dir << "/" << expected_file << "\n";
      return 2;
    }
    double energy;
    expected >> energy >> expected_edges;
    auto forces = torch::empty({n, 3}, torch::kFloat64);
    for (int64_t k = 0; k < 3 * n; ++k) expected >> forces.data_ptr<double>()[k];
    auto virial = torch::empty({3, 3}, torch::kFloat64);
    for (int k = 0; k < 9; ++k) expected >> virial.data_ptr<double>()[k];

    const equipot::Model model(dir + "/" + file);
    check(model.metadata().format_version == version, name + "format version " + std::to_string(version));
    check(model.metadata().elements == std::vector<std::string>{"Cu", "Ni"}, name + "elements Cu Ni");
    check(model.metadata().cutoff == 4.0 && model.metadata().num_layers == 2, name + "cutoff 4 A, 2 layers");
    check(model.species_index("Ni") == 1, name + "species index of Ni");

    const auto result = model.evaluate_structure(positions, cell, pbc, species, {true, true, true});
    check(std::abs(result.energy - energy) <= 1e-10 * std::abs(energy), name + "energy equals the Python model");
    check((result.forces - forces).abs().max().item<double>() <= 1e-10, name + "forces equal the Python model");
    check((result.virial - virial).abs().max().item<double>() <= 1e-10, name + "virial equals the Python model");
    check(std::abs(result.atom_energies.sum().item<double>() - result.energy) <= 1e-10,
          name + "per-atom energies sum to the energy");
    check((result.atom_virial.sum(0) - result.virial).abs().max().item<double>() <= 1e-12,
          name + "per-atom virials sum to the virial");
    check(result.forces.sum(0).abs().max().item<double>() <= 1e-12, name + "forces sum to zero");
    auto bad = positions.clone();
    bad[2][1] = NAN;
    expect_error([&] { model.evaluate_structure(bad, cell, pbc, species, {}); }, "not finite", name + "NaN position");
    expect_error([&] { model.species_index("Zr"); }, "not known to this model", name + "unknown element");
    expect_error(
        [&] {
          model.evaluate_structure(torch::empty({0, 3}, torch::kFloat64), cell, pbc, torch::empty({0}, torch::kInt64), {});
        },
        "no atoms", name + "empty structure");
  }

  // Neighbor list: every pair within the cutoff appears in both directions.
  const bool periodic[3] = {pbc[0], pbc[1], pbc[2]};
  const auto pos = positions.contiguous();
  const auto list = equipot::build_neighbor_list(pos.data_ptr<double>(), n, cell.data_ptr<double>(), periodic, 4.0);
  check(list.num_edges() == expected_edges, "neighbor list has the edges ASE finds (" +
                                                 std::to_string(list.num_edges()) + " vs " +
                                                 std::to_string(expected_edges) + ")");

  expect_error([&] { equipot::Model("/nonexistent/model.pt"); }, "does not exist", "missing model file");

  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
