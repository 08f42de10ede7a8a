// SWIG interface of equipot's OpenMM plugin: module equipot.openmmplugin (private;
// users import equipot.openmm, which completes TorchForce's Python constructor).
// %import of OpenMM's SWIG headers makes TorchForce a subclass of openmm.Force, so
// system.addForce(TorchForce(...)) works as with any OpenMM force.
%module(package="equipot") openmmplugin

%import(module="openmm") "swig/OpenMMSwigHeaders.i"
%include <std_string.i>

%{
#include <map>
#include <string>
#include <vector>

#include "OpenMM.h"
// OpenMM's SWIG headers declare every force of the wheel (for type conversions).
#include "OpenMMAmoeba.h"
#include "OpenMMDrude.h"
#include "openmm/RPMDIntegrator.h"
#include "openmm/RPMDMonteCarloBarostat.h"
#include "equipot_openmm/TorchForce.h"
%}

// C++ exceptions become openmm.OpenMMException, as in OpenMM's own wrapper.
%exception {
  try {
    $action
  } catch (std::exception& e) {
    PyObject* openmm = PyImport_ImportModule("openmm");
    PyObject* type = openmm ? PyObject_GetAttrString(openmm, "OpenMMException") : NULL;
    Py_XDECREF(openmm);
    PyErr_Clear();
    PyErr_SetString(type ? type : PyExc_RuntimeError, e.what());
    Py_XDECREF(type);
    SWIG_fail;
  }
}

// ---- typemaps: dict <-> std::map<string,string>, lists <-> std::vector ----
%typemap(in) const std::map<std::string, std::string>& (std::map<std::string, std::string> temp) {
  if ($input != Py_None) {
    if (!PyDict_Check($input)) SWIG_exception_fail(SWIG_TypeError, "properties must be a dict of str to str");
    PyObject *key, *value;
    Py_ssize_t position = 0;
    while (PyDict_Next($input, &position, &key, &value)) {
      if (!PyUnicode_Check(key) || !PyUnicode_Check(value))
        SWIG_exception_fail(SWIG_TypeError, "properties must be a dict of str to str");
      temp[PyUnicode_AsUTF8(key)] = PyUnicode_AsUTF8(value);
    }
  }
  $1 = &temp;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_POINTER) const std::map<std::string, std::string>& {
  $1 = PyDict_Check($input) || $input == Py_None;
}
%typemap(out) const std::map<std::string, std::string>& {
  $result = PyDict_New();
  for (const auto& item : *$1) {
    PyObject* value = PyUnicode_FromString(item.second.c_str());
    PyDict_SetItemString($result, item.first.c_str(), value);
    Py_DECREF(value);
  }
}

%typemap(in) const std::vector<int>& (std::vector<int> temp) {
  PyObject* sequence = PySequence_Fast($input, "expected a sequence of particle indices");
  if (!sequence) SWIG_fail;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sequence); ++i) {
    long value = PyLong_AsLong(PySequence_Fast_GET_ITEM(sequence, i));
    if (value == -1 && PyErr_Occurred()) {
      Py_DECREF(sequence);
      SWIG_exception_fail(SWIG_TypeError, "particle indices must be integers");
    }
    temp.push_back(static_cast<int>(value));
  }
  Py_DECREF(sequence);
  $1 = &temp;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_INT32_ARRAY) const std::vector<int>& {
  $1 = PySequence_Check($input) && !PyUnicode_Check($input);
}
%typemap(out) const std::vector<int>& {
  $result = PyList_New($1->size());
  for (size_t i = 0; i < $1->size(); ++i) PyList_SET_ITEM($result, i, PyLong_FromLong((*$1)[i]));
}

%typemap(in) const std::vector<std::string>& (std::vector<std::string> temp) {
  PyObject* sequence = PySequence_Fast($input, "expected a sequence of element symbols");
  if (!sequence) SWIG_fail;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sequence); ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(sequence, i);
    if (!PyUnicode_Check(item)) {
      Py_DECREF(sequence);
      SWIG_exception_fail(SWIG_TypeError, "element symbols must be str");
    }
    temp.push_back(PyUnicode_AsUTF8(item));
  }
  Py_DECREF(sequence);
  $1 = &temp;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING_ARRAY) const std::vector<std::string>& {
  $1 = PySequence_Check($input) && !PyUnicode_Check($input);
}
%typemap(out) const std::vector<std::string>& {
  $result = PyList_New($1->size());
  for (size_t i = 0; i < $1->size(); ++i) PyList_SET_ITEM($result, i, PyUnicode_FromString((*$1)[i].c_str()));
}

namespace EquipotOpenMM {

class TorchForce : public OpenMM::Force {
 public:
  const std::string& getFile() const;
  bool isEquipotModel() const;
  const std::vector<std::string>& getModelElements() const;
  double getModelCutoff() const;
  const std::string& getModelDtype() const;
  void setUsesPeriodicBoundaryConditions(bool periodic);
  virtual bool usesPeriodicBoundaryConditions() const;
  void setOutputsForces(bool outputsForces);
  bool getOutputsForces() const;
  int getNumGlobalParameters() const;
  int addGlobalParameter(const std::string& name, double defaultValue);
  const std::string& getGlobalParameterName(int index) const;
  void setGlobalParameterName(int index, const std::string& name);
  double getGlobalParameterDefaultValue(int index) const;
  void setGlobalParameterDefaultValue(int index, double defaultValue);
  void addEnergyParameterDerivative(const std::string& name);
  int getNumEnergyParameterDerivatives() const;
  const std::string& getEnergyParameterDerivativeName(int index) const;
  void setProperty(const std::string& name, const std::string& value);
  const std::map<std::string, std::string>& getProperties() const;
  void setParticles(const std::vector<int>& particles);
  const std::vector<int>& getParticles() const;
  void setElements(const std::vector<std::string>& elements);
  const std::vector<std::string>& getElements() const;
};

}  // namespace EquipotOpenMM

%extend EquipotOpenMM::TorchForce {
  // The raw constructor: model file path (str) or model bytes (bytes), properties,
  // and the file name to record. equipot.openmm replaces __init__ with the
  // openmm-torch-style TorchForce(file_or_module, properties={}, ...).
  TorchForce(PyObject* model, const std::map<std::string, std::string>& properties, const std::string& file) {
    if (PyBytes_Check(model)) {
      char* buffer = NULL;
      Py_ssize_t length = 0;
      PyBytes_AsStringAndSize(model, &buffer, &length);
      return new EquipotOpenMM::TorchForce(EquipotOpenMM::ModelBytes{std::string(buffer, length)}, properties, file);
    }
    if (PyUnicode_Check(model)) return new EquipotOpenMM::TorchForce(std::string(PyUnicode_AsUTF8(model)), properties);
    throw std::invalid_argument("TorchForce: model must be a file path (str) or the bytes of a model file");
  }

  // The model file's bytes (what getModule() loads, and what XML embeds).
  PyObject* getModelBytes() const {
    const std::string& bytes = self->getModelBytes();
    return PyBytes_FromStringAndSize(bytes.data(), bytes.size());
  }

  static EquipotOpenMM::TorchForce& cast(OpenMM::Force& force) {
    auto* torchForce = dynamic_cast<EquipotOpenMM::TorchForce*>(&force);
    if (torchForce == NULL) throw std::invalid_argument("TorchForce.cast: the force is not an equipot TorchForce");
    return *torchForce;
  }

  static bool isinstance(OpenMM::Force& force) {
    return dynamic_cast<EquipotOpenMM::TorchForce*>(&force) != NULL;
  }
}

// openmm-torch's module offers property_map, its SWIG class for std::map<std::string,
// std::string>, and scripts build TorchForce properties with it. OpenMM's own module
// already wraps that type (mapstringstring): the same class is offered under that name,
// since a second wrapper of one type in the shared SWIG runtime breaks overload
// dispatch (property_map["key"] = "value" would fail).
%pythoncode %{
from openmm.openmm import mapstringstring as property_map
%}

%inline %{
// Registers the kernels with every Reference-derived platform loaded so far.
void registerPluginKernels() { EquipotOpenMM::registerKernelFactories(); }
%}
