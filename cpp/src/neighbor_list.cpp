#include "equipot/neighbor_list.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "equipot/errors.h"

namespace equipot {
namespace {

using Vec3 = std::array<double, 3>;

Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
double norm(const Vec3& a) { return std::sqrt(dot(a, a)); }
Vec3 scaled(const Vec3& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }

// Rows of the cell used for binning. Periodic rows are the lattice vectors; each
// non-periodic row is replaced by a unit vector orthogonal to the periodic rows, so
// that fractional coordinates along it are plain distances (Angstrom).
std::array<Vec3, 3> binning_cell(const double* cell, const bool* pbc) {
  std::array<Vec3, 3> rows;
  std::vector<int> periodic, open;
  for (int k = 0; k < 3; ++k) {
    rows[k] = {cell[3 * k], cell[3 * k + 1], cell[3 * k + 2]};
    (pbc[k] ? periodic : open).push_back(k);
  }
  for (int k : periodic)
    if (norm(rows[k]) == 0.0)
      throw Error("cell vector " + std::to_string(k) + " is zero in a periodic direction");
  if (periodic.size() == 2) {
    Vec3 n = cross(rows[periodic[0]], rows[periodic[1]]);
    if (norm(n) < 1e-12 * norm(rows[periodic[0]]) * norm(rows[periodic[1]]))
      throw Error("the two periodic cell vectors are parallel");
    rows[open[0]] = scaled(n, 1.0 / norm(n));
  } else if (periodic.size() == 1) {
    const Vec3& a = rows[periodic[0]];
    int axis = 0;  // the Cartesian axis least aligned with a gives a stable normal
    for (int d = 1; d < 3; ++d)
      if (std::abs(a[d]) < std::abs(a[axis])) axis = d;
    Vec3 e{0.0, 0.0, 0.0};
    e[axis] = 1.0;
    Vec3 u = cross(a, e);
    u = scaled(u, 1.0 / norm(u));
    Vec3 v = cross(a, u);
    v = scaled(v, 1.0 / norm(v));
    rows[open[0]] = u;
    rows[open[1]] = v;
  } else if (periodic.empty()) {
    rows = {Vec3{1.0, 0.0, 0.0}, Vec3{0.0, 1.0, 0.0}, Vec3{0.0, 0.0, 1.0}};
  }
  return rows;
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

NeighborList build_neighbor_list(const double* positions, int64_t n, const double* cell,
                                 const bool* pbc, double cutoff) {
  if (!(cutoff > 0.0) || !std::isfinite(cutoff))
    throw Error("neighbor-list cutoff must be a positive number, got " + std::to_string(cutoff));
  for (int64_t i = 0; i < 3 * n; ++i)
    if (!std::isfinite(positions[i]))
      throw Error("position of atom " + std::to_string(i / 3) + " is not finite (NaN or inf)");
  for (int k = 0; k < 9; ++k)
    if (!std::isfinite(cell[k])) throw Error("cell contains a non-finite number");

  const std::array<Vec3, 3> rows = binning_cell(cell, pbc);
  // Reciprocal rows b_k (a_k . b_l = delta_kl): fractional coordinate s_k = r . b_k,
  // and 1/|b_k| is the distance between the lattice planes of direction k.
  const double volume = dot(rows[0], cross(rows[1], rows[2]));
  if (!(std::abs(volume) > 1e-12 * norm(rows[0]) * norm(rows[1]) * norm(rows[2])))
    throw Error("periodic cell is degenerate (zero volume)");
  std::array<Vec3, 3> recip;
  for (int k = 0; k < 3; ++k)
    recip[k] = scaled(cross(rows[(k + 1) % 3], rows[(k + 2) % 3]), 1.0 / volume);

  // Fractional coordinates; periodic ones are wrapped into [0, 1) and the wrap is
  // remembered so shifts refer to the caller's unwrapped positions.
  std::vector<double> frac(3 * n);
  std::vector<int64_t> wrap(3 * n, 0);
  std::vector<double> wrapped(positions, positions + 3 * n);
  Vec3 lo{0, 0, 0}, hi{0, 0, 0};
  for (int k = 0; k < 3; ++k) {
    lo[k] = n ? INFINITY : 0.0;
    hi[k] = n ? -INFINITY : 0.0;
  }
  for (int64_t i = 0; i < n; ++i) {
    const Vec3 r{positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]};
    for (int k = 0; k < 3; ++k) {
      double s = dot(r, recip[k]);
      if (pbc[k]) {
        double w = std::floor(s);
        s -= w;
        if (s >= 1.0) {  // rounding can land exactly on 1
          s -= 1.0;
          w += 1.0;
        }
        wrap[3 * i + k] = static_cast<int64_t>(w);
        for (int d = 0; d < 3; ++d) wrapped[3 * i + d] -= w * rows[k][d];
      }
      frac[3 * i + k] = s;
      lo[k] = std::min(lo[k], s);
      hi[k] = std::max(hi[k], s);
    }
  }

  // Bins are at least one cutoff wide (measured between lattice planes), so all
  // neighbors lie within `reach` bins; a periodic cell narrower than the cutoff has
  // one bin and reaches over several images.
  std::array<int64_t, 3> nbins, reach;
  for (int k = 0; k < 3; ++k) {
    const double width = pbc[k] ? 1.0 / norm(recip[k]) : hi[k] - lo[k];
    nbins[k] = static_cast<int64_t>(std::max(1.0, std::min(std::floor(width / cutoff), 1e9)));
    reach[k] = pbc[k] ? static_cast<int64_t>(std::ceil(cutoff / (width / nbins[k]) - 1e-12))
                      : (nbins[k] > 1 ? 1 : 0);
  }
  // A periodic cell far narrower than the cutoff would need an absurd number of
  // images (and hang): refuse it.
  double images = 1.0;
  for (int k = 0; k < 3; ++k) images *= 2.0 * static_cast<double>(reach[k]) + 1.0;
  if (images > 1e6)
    throw Error("the periodic cell is too thin for the cutoff: a " + std::to_string(cutoff) +
                " A cutoff would need " + std::to_string(static_cast<long long>(images)) +
                " periodic images per atom");
  // A sparse structure must not allocate far more bins than atoms (capping each
  // direction first keeps the product from overflowing for atoms far apart).
  const auto max_per_direction = static_cast<int64_t>(std::cbrt(8.0 * static_cast<double>(n) + 64.0)) + 2;
  for (int k = 0; k < 3; ++k) nbins[k] = std::min(nbins[k], max_per_direction);
  while (nbins[0] * nbins[1] * nbins[2] > 8 * n + 64) {
    int k = static_cast<int>(std::max_element(nbins.begin(), nbins.end()) - nbins.begin());
    nbins[k] = (nbins[k] + 1) / 2;
  }

  auto bin_of = [&](int64_t i, int k) -> int64_t {
    double s = pbc[k] ? frac[3 * i + k] : (hi[k] > lo[k] ? (frac[3 * i + k] - lo[k]) / (hi[k] - lo[k]) : 0.0);
    return std::min<int64_t>(nbins[k] - 1, static_cast<int64_t>(s * nbins[k]));
  };
  const int64_t total_bins = nbins[0] * nbins[1] * nbins[2];
  std::vector<int64_t> atom_bin(n), bin_start(total_bins + 1, 0), bin_atoms(n);
  for (int64_t i = 0; i < n; ++i) {
    atom_bin[i] = (bin_of(i, 0) * nbins[1] + bin_of(i, 1)) * nbins[2] + bin_of(i, 2);
    ++bin_start[atom_bin[i] + 1];
  }
  for (int64_t b = 0; b < total_bins; ++b) bin_start[b + 1] += bin_start[b];
  {
    std::vector<int64_t> fill(bin_start.begin(), bin_start.end() - 1);
    for (int64_t i = 0; i < n; ++i) bin_atoms[fill[atom_bin[i]]++] = i;
  }

  NeighborList list;
  const double cutoff2 = cutoff * cutoff;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t bi[3] = {atom_bin[i] / (nbins[1] * nbins[2]), (atom_bin[i] / nbins[2]) % nbins[1],
                           atom_bin[i] % nbins[2]};
    for (int64_t d0 = -reach[0]; d0 <= reach[0]; ++d0)
      for (int64_t d1 = -reach[1]; d1 <= reach[1]; ++d1)
        for (int64_t d2 = -reach[2]; d2 <= reach[2]; ++d2) {
          const int64_t delta[3] = {d0, d1, d2};
          int64_t nb[3], image[3];
          bool inside = true;
          for (int k = 0; k < 3; ++k) {
            const int64_t b = bi[k] + delta[k];
            if (pbc[k]) {
              image[k] = floor_div(b, nbins[k]);
              nb[k] = b - image[k] * nbins[k];
            } else {
              inside = inside && b >= 0 && b < nbins[k];
              image[k] = 0;
              nb[k] = b;
            }
          }
          if (!inside) continue;
          double offset[3] = {0, 0, 0};
          for (int k = 0; k < 3; ++k)
            for (int d = 0; d < 3; ++d) offset[d] += image[k] * rows[k][d];
          const int64_t bin = (nb[0] * nbins[1] + nb[1]) * nbins[2] + nb[2];
          for (int64_t a = bin_start[bin]; a < bin_start[bin + 1]; ++a) {
            const int64_t j = bin_atoms[a];
            if (j == i && image[0] == 0 && image[1] == 0 && image[2] == 0) continue;
            double r2 = 0.0;
            for (int d = 0; d < 3; ++d) {
              const double x = wrapped[3 * j + d] + offset[d] - wrapped[3 * i + d];
              r2 += x * x;
            }
            if (r2 >= cutoff2) continue;
            list.first.push_back(i);
            list.second.push_back(j);
            for (int k = 0; k < 3; ++k)
              list.shifts.push_back(image[k] + wrap[3 * i + k] - wrap[3 * j + k]);
          }
        }
  }
  return list;
}

}  // namespace equipot
