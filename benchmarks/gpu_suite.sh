#!/usr/bin/env bash
# The issue-16 GPU measurements in one run that fits in 8 minutes of device time.
#
#   bash benchmarks/gpu_suite.sh [REFERENCE_REPO]    # e.g. ./latent_quantization
#
# REFERENCE_REPO: a kylehkhsu/latent_quantization checkout (the device machine has no
# network: put a copy inside the working tree, untracked, so that it travels with it).
# Without it the side-by-side QLAE step is skipped. Needs jax[cuda12] and, for the side by
# side, equinox (pip install -e ".[bench]").
#
# Writes benchmarks/results/*_gpu.json (and copies them to $OUT when set, for the device
# tool); commit them with the commit hash each JSON records. Each step has its own time
# limit, so one slow step cannot eat the budget of the others:
#   1. conv_transpose: sub-pixel vs plain x2 transposed conv per QLAE layer, batch 128,
#      float32 and bf16 -> which implementation `FASTEST_CONV_TRANSPOSE["gpu"]` should name;
#   2. cliff_kernel --quick: fwd+bwd incl. B = 4096, d = 10 (target <= 0.3 ms);
#   3. train_throughput: AE, QLAE, AE+Cliff at batch 128 and 512, data resident on the
#      device (target: AE+Cliff <= 1.2x AE per step at 512), float32 and bf16;
#   4. qlae_reference: the authors' QLAE vs qdjax's at batch 128 and 512 (target >= 2x).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python
REF=${1:-}
R=benchmarks/results
run() {  # run LIMIT_SECONDS CMD...: a failed or timed-out step is reported, never fatal
  local limit=$1; shift
  echo "== $* (limit ${limit}s)"
  local t0=$SECONDS
  timeout "$limit" "$@" || echo "!! step failed or timed out (rc=$?): $*"
  echo "== took $((SECONDS - t0)) s"
}
$PY -c "import jax; print(jax.devices()); assert jax.default_backend() == 'gpu', 'no GPU'" || exit 2
nvidia-smi --query-gpu=name,memory.total --format=csv || true

run 60 $PY -m benchmarks.conv_transpose --batch 128 --repeats 20 --out $R/conv_transpose_gpu.json
run 45 $PY -m benchmarks.conv_transpose --batch 128 --repeats 20 --dtype bf16 \
  --out $R/conv_transpose_gpu_bf16.json
run 90 $PY -m benchmarks.cliff_kernel --quick --repeats 50 --out $R/cliff_kernel_gpu.json
run 100 $PY -m benchmarks.train_throughput --batch-sizes 128,512 --steps 20 --repeats 3 \
  --input device --out $R/train_throughput_gpu.json
run 70 $PY -m benchmarks.train_throughput --batch-sizes 128,512 --steps 20 --repeats 3 \
  --input device --bf16 --methods qlae --out $R/train_throughput_gpu_bf16.json
if [ -n "$REF" ]; then
  run 100 $PY -m benchmarks.qlae_reference --reference-repo="$REF" --batch-sizes 128,512 \
    --steps 10 --rounds 5 --out $R/qlae_reference_gpu.json
else
  echo "== qlae_reference skipped (no REFERENCE_REPO argument)"
fi
if [ -n "${OUT:-}" ]; then cp $R/*_gpu*.json "$OUT"/ 2>/dev/null || true; fi
echo "== done in $SECONDS s"
