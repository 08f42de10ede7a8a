// O(N) cell-list neighbor search for periodic, partly periodic and non-periodic
// structures, triclinic cells, and cells narrower than the cutoff (an atom then
// meets several images of the same neighbor).
#pragma once
#include <cstdint>
#include <vector>

namespace equipot {

// Directed, full neighbor list: for every pair within the cutoff both (i, j) and
// (j, i) are listed. The edge vector of edge e is
//   positions[j] - positions[i] + shift[e] . cell    (shift: integer image counts)
// which is how every caller (Python, LAMMPS, OpenMM) builds model inputs.
struct NeighborList {
  std::vector<int64_t> first;   // i: the atom whose environment the edge belongs to
  std::vector<int64_t> second;  // j: the neighbor
  std::vector<int64_t> shifts;  // 3 integers per edge, along the cell rows
  int64_t num_edges() const { return static_cast<int64_t>(first.size()); }
};

// positions: n x 3 row-major (Angstrom); cell: 3 x 3 row-major, rows are lattice
// vectors (rows of non-periodic directions are ignored, may be zero);
// pbc: periodicity of each cell row. Pairs with distance < cutoff are kept.
// Throws equipot::Error for non-finite positions, a non-positive cutoff, or a
// degenerate periodic cell.
NeighborList build_neighbor_list(const double* positions, int64_t n, const double* cell,
                                 const bool* pbc, double cutoff);

}  // namespace equipot
