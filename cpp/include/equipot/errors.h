// Every error the core raises for bad input or a bad model file is an equipot::Error
// with a message that names the problem; the bindings turn it into a Python
// exception, a LAMMPS error->all or an OpenMMException.
#pragma once
#include <stdexcept>
#include <string>

namespace equipot {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace equipot
