#!/usr/bin/env bash
# The Balls check of Cliff (issue 11): AE vs AE + Cliff on the planted-cliff Balls variant
# (`data.variant=grid`, 4 cells per factor, 5.12 px balls), 800 steps of 128 on CPU.
# Cliff recipe fixed before the runs: batch 128 (the KDE needs it: at batch 32 Silverman's
# bandwidth is ~0.5 and the term does not move), a fixed bandwidth of 0.15 on the
# standardized codes, 200 AE warm-up steps then a 200-step ramp. Its weight is tuned on seed 0
# over {0.1, 0.3, 1}; seeds 1-3 are the evaluation seeds.
#   experiments/qlae/balls_cliff.sh tune         # seed 0: AE and the three weights
#   experiments/qlae/balls_cliff.sh eval W       # seeds 1-3: AE and Cliff at weight W
#   python -m experiments.qlae.summarize --root=runs/balls_cliff --out=...md
# Runs land in runs/balls_cliff/<ae|cliff_wW>/seed_<s>; a finished run is resumed, not redone.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
ROOT=${ROOT:-runs/balls_cliff}
COMMON=(--config=experiments/qlae/configs/default.py --config.data.variant=grid
  --config.data.radius=0 --config.train.num_steps=800 --config.train.batch_size=128
  --config.train.eval_every=0 --config.train.log_every=50 --config.train.checkpoint_every=400
  --config.eval.plot=False --config.train.progress=False)
CLIFF=(--config.method=cliff --config.loss.warmup_steps=200 --config.loss.ramp_steps=200
  --config.loss.cliff_bandwidth=0.15)
run() { # group seed args...
  local wd="$ROOT/$1/seed_$2"; shift 2
  [ -f "$wd/results.json" ] && return 0
  echo "$(date +%T) $wd"
  "$PY" -m experiments.qlae "${COMMON[@]}" --workdir="$wd" "$@" > /dev/null
}
case "${1:-}" in
  tune)
    run ae 0 --config.seed=0 --config.method=ae
    for w in 0.1 0.3 1.0; do run "cliff_w$w" 0 --config.seed=0 "${CLIFF[@]}" --config.loss.regularizer_weight="$w"; done ;;
  eval)
    w=${2:?usage: balls_cliff.sh eval WEIGHT}
    for s in 1 2 3; do
      run ae "$s" --config.seed="$s" --config.method=ae
      run "cliff_w$w" "$s" --config.seed="$s" "${CLIFF[@]}" --config.loss.regularizer_weight="$w"
    done ;;
  *) echo "usage: $0 tune | eval WEIGHT" >&2; exit 2 ;;
esac
