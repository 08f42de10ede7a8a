#!/usr/bin/env bash
# The main job on the bundled data: train a SchNet on Cu-Ni EMT data, export it,
# run MD with it in LAMMPS and in OpenMM. Outputs go to runs/schnet_cuni/.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
OUT=runs/schnet_cuni
echo "== 1/4 train (equipot train examples/schnet_cuni.yaml)"
equipot train examples/schnet_cuni.yaml --out "$OUT"
echo "== 2/4 export (export_model $OUT/checkpoint.pt)"
export_model "$OUT/checkpoint.pt" -o "$OUT/model.pt"
echo "== 3/4 LAMMPS MD (pair_style equipot)"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} lmp -in examples/lammps/in.schnet_cuni -var model "$OUT/model.pt" -var out "$OUT" -var steps 500 -log none
echo "== 4/4 OpenMM MD (equipot.openmm.TorchForce)"
python examples/openmm/run_md.py "$OUT/model.pt" --steps 1000 --dcd "$OUT/openmm.dcd" | tee "$OUT/openmm.log"
echo "done: see $OUT (learning_curve.png, parity.png, model.pt, log.lammps, traj.lammpstrj, openmm.log, openmm.dcd)"
