// Chemical elements and a model's element list: the one place that maps element
// symbols to atomic numbers and to a model's species indices, and words them in
// messages, for the Python bindings and both plugins alike.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace equipot {

// Atomic number of a symbol ("Cu" -> 29), or 0 when the symbol is not an element.
int atomic_number(const std::string& symbol);

// Index of `element` in a model's element list; throws equipot::Error naming the
// element and the ones the model knows.
int64_t species_index(const std::vector<std::string>& elements, const std::string& element);

// The words separated by single spaces ("Cu Ni"), for messages and metadata.
std::string join_words(const std::vector<std::string>& words);

}  // namespace equipot
