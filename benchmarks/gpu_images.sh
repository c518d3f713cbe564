#!/usr/bin/env bash
# The budgeted device script of issue 12 (≤ 8 minutes of device time on one GPU):
#   1. the procedural stand-in table at a longer length (experiments/images/configs/gpu.py:
#      ae / betavae / qlae / cliff x seeds 100, 101, 102, 3000 steps, dlib net, batch 128),
#      seed-major under a hard 330 s limit, so a cut-off sweep still holds whole seeds;
#   2. its QLAE- and Cliff-style tables (experiments.images.results, from the results files);
#   3. the input-pipeline throughput benchmark (device-resident, procedural, host-stream
#      sources at batch 128 and 512, input alone and with an AE step), under 100 s.
# Run from the repository root:  bash benchmarks/gpu_images.sh
# Writes benchmarks/results/{shapes3d_standin_gpu.md,input_pipeline_gpu.json}; commit them.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
ROOT=${ROOT:-runs/shapes3d_standin_gpu}
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
$PY -c "import jax; print('devices:', jax.devices())" || exit 1
start=$(date +%s)
timeout 330 $PY -m experiments.images.sweep --dataset=shapes3d \
  --methods=ae,betavae,qlae,cliff --seeds=100,101,102 --config=gpu --root="$ROOT"
echo "sweep: rc=$? after $(( $(date +%s) - start )) s"
{
  echo "<!-- $(git rev-parse --short HEAD 2>/dev/null) $(date -u +%FT%TZ): bash benchmarks/gpu_images.sh"
  echo "     ($PY -m experiments.images.sweep --config=gpu --root=$ROOT; results.py) -->"
  $PY -m experiments.images.results --root="$ROOT"
} > "$OUT/shapes3d_standin_gpu.md"
cat "$OUT/shapes3d_standin_gpu.md"
timeout 100 $PY -m benchmarks.input_pipeline --out "$OUT/input_pipeline_gpu.json" \
  --batch-sizes=128,512 --steps=50 --supersample=2
echo "input_pipeline: rc=$? total $(( $(date +%s) - start )) s"
