// Unit conversions between a model's units (eV, Angstrom: export/SPEC.md) and the
// hosts' (OpenMM: kJ/mol, nm), in one place for C++ and (through the bindings) Python.
#pragma once

namespace equipot {

constexpr double kKJPerMolPerEV = 96.48533212;  // CODATA 2018: e * N_A / 1000
constexpr double kAngstromPerNm = 10.0;

}  // namespace equipot
