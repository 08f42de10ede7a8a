// Chemical element symbols <-> atomic numbers, so that model element lists can be
// validated and plugins can map OpenMM elements or LAMMPS type names to species.
#pragma once
#include <string>

namespace equipot {

// Atomic number of a symbol ("Cu" -> 29), or 0 when the symbol is not an element.
int atomic_number(const std::string& symbol);
// Symbol of an atomic number (29 -> "Cu"); throws equipot::Error out of range.
std::string element_symbol(int atomic_number);

}  // namespace equipot
