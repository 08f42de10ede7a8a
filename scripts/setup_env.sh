#!/usr/bin/env bash
# Creates .venv (once) and installs equipot with its C++ core, the LAMMPS plugin and
# the OpenMM plugin into it. Safe to run again: later runs rebuild only what changed.
# torch is pinned to the CPU wheel of this machine and the package is built with
# --no-build-isolation, so the build uses that torch rather than downloading another.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
pip install -q --disable-pip-version-check "torch==2.13.0"
pip install -q --disable-pip-version-check numpy scipy ase pyyaml tqdm matplotlib pytest "e3nn==0.6.0" \
  pybind11 scikit-build-core ninja "lammps[mpi]==2025.7.22.*" "openmm==8.6.1" "openmmml==1.8" swig
# ON: a plugin whose host package or toolchain is missing stops the build with an
# error instead of being skipped.
pip install -q --disable-pip-version-check --no-build-isolation -e . \
  -Ccmake.define.EQUIPOT_LAMMPS="${EQUIPOT_LAMMPS:-ON}" -Ccmake.define.EQUIPOT_OPENMM="${EQUIPOT_OPENMM:-ON}"
python -c "import equipot; print('equipot', equipot.__version__, 'installed in .venv')"
