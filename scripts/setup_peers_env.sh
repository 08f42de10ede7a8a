#!/usr/bin/env bash
# Creates .venv-peers: the reference implementations that equipot is compared with
# (schnetpack, torch-geometric, torchmd-net, nequip), pinned to equipot's torch, for the
# peer-parity tests (make test-peers) and the peer benchmarks. Never a dependency of
# equipot itself. equipot's Python package is put on the path with a .pth file (the
# parity tests and converters need no C++ core), so nothing is compiled here.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv-peers/bin/python ]; then
  "$PYTHON" -m venv .venv-peers
fi
. .venv-peers/bin/activate
PIP="pip install -q --disable-pip-version-check"
$PIP "torch==2.13.0"
# The constraint keeps every peer on this torch (a looser pin would fetch a CUDA build).
echo "torch==2.13.0" > .venv-peers/constraints.txt
$PIP -c .venv-peers/constraints.txt numpy scipy ase pyyaml pytest tqdm \
  "torch-geometric==2.8.1" "torchmd-net==3.1.0" warp-lang "nequip==0.19.1"
# schnetpack 2.1.1 pins sympy<=1.12 while torch 2.13 needs >=1.13.3 (sympy is only
# used by torch's compiler here): install it without that pin, with the rest of
# what its package imports.
$PIP -c .venv-peers/constraints.txt h5py hydra-core pytorch-lightning torchmetrics hydra-colorlog rich \
  fasteners dirsync torch-ema matscipy tensorboardX
$PIP --no-deps "schnetpack==2.1.1"
# EquiformerV2's reference (tests/peers/test_equiformer_v2_parity.py): fairchem-core 1.10,
# the last release that ships models/equiformer_v2, cannot share the environment with
# fairchem-core 2.x (same package name, numpy<2, torch 2.4 pins): its files alone, in a
# folder the parity test puts first on sys.path; what it imports is already here.
$PIP -c .venv-peers/constraints.txt e3nn
$PIP --no-deps --upgrade --target .venv-peers/fairchem-core-1.10 "fairchem-core==1.10.0"
site=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$(pwd)/python" > "$site/equipot_source.pth"
# schnetpack 2.1.1 imports T_co from torch.utils.data.dataloader, which torch 2.13
# no longer defines there.
loader="$site/schnetpack/data/loader.py"
if grep -q "from torch.utils.data.dataloader import _collate_fn_t, T_co" "$loader" 2>/dev/null; then
  sed -i 's/from torch.utils.data.dataloader import _collate_fn_t, T_co/from torch.utils.data.dataloader import _collate_fn_t\nfrom typing import TypeVar\nT_co = TypeVar("T_co", covariant=True)/' "$loader"
fi
python -c "import schnetpack, torch_geometric, torchmdnet; print('peers: schnetpack', schnetpack.__version__ if hasattr(schnetpack, '__version__') else '?', 'torch-geometric', torch_geometric.__version__, 'torchmd-net ok')"
