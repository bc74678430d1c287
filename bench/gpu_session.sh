#!/usr/bin/env bash
# One GPU session (about 10 minutes), run from the repository root on a CUDA machine: trials per hour on one
# GPU (issue 18). Every output lands in $OUT (default ./gpu_out):
#   device.txt            the GPU, torch, the cores
#   step_seed_scale.txt   the seed's scale (policy=act, 3 cameras) at 96x128 and 480x640: ACT alone, + OT with its
#                         own 32 pairs (hard and soft prior), + OT with ot_rows=bc; s/step and ratios
#   packing.txt           bench/packing.py: 1, 2, 4, 8 trials per GPU (policy=act, 3 cameras at 96x128), trials per hour, GPU memory
#                         per trial, and the projection of a 100-trial sweep at 1,000 and 1,600 steps
#   trial_profile.txt     bench/trial_profile.py on the GPU: where a trial's time goes, alone and two at once
#   summary.txt           the tables above, one after the other
# QUICK=1 runs every part on the CPU at tiny scale (a minute or two): a check of the script, not a measurement.
# Wheels the machine lacks may be carried in .whl/. Usage: OUT=DIR [QUICK=1] bash bench/gpu_session.sh
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
PY=${PYTHON:-python3}
export WANDB_MODE=disabled PYTHONUNBUFFERED=1 ACTOT_CACHE=${ACTOT_CACHE:-/tmp/actot_cache} RAY_USAGE_STATS_ENABLED=0
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1;
  $PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')";
  nproc; } > "$OUT/device.txt" 2>&1
SLACK=1
if [ -n "${QUICK:-}" ]; then
  SLACK=4  # a CPU shared with other work: the deadlines are for the GPU
  STEP=(--policy act_small --height 32 --width 32 --steps 1 --device cpu)
  STEP_BIG=(--policy act_small --height 48 --width 64 --steps 1 --device cpu)
  PACK=(--quick --project-steps 1000 1600)
  PROFILE=(--quick --concurrent 1 --no-ray)
else
  STEP=(--policy act --height 96 --width 128 --steps 5)
  STEP_BIG=(--policy act --height 480 --width 640 --steps 3)
  PACK=(--per-gpu 1 2 4 8 --policies act --steps 100 --project-trials 100 --project-steps 1000 1600)
  PROFILE=(--device cuda --steps 300 --concurrent 1 2)
fi
# Timings one at a time, each with a deadline that leaves the others their time (560 s in all, under the
# device tool's 600 s per command).
timeout $((90 * SLACK)) $PY -m bench.bench_train_step "${STEP[@]}" > "$OUT/step_seed_scale.txt" 2>&1
timeout $((120 * SLACK)) $PY -m bench.bench_train_step "${STEP_BIG[@]}" >> "$OUT/step_seed_scale.txt" 2>&1
timeout $((200 * SLACK)) $PY -m bench.packing "${PACK[@]}" --json "$OUT/packing.json" > "$OUT/packing.txt" 2>&1
timeout $((150 * SLACK)) $PY -m bench.trial_profile "${PROFILE[@]}" --json "$OUT/trial_profile.json" > "$OUT/trial_profile.txt" 2>&1
{ cat "$OUT/device.txt"; echo; grep -E "^(policy=|\|)" "$OUT/step_seed_scale.txt"; echo;
  sed -n '/^| policy/,$p' "$OUT/packing.txt"; echo; grep -E "^(trial profile|  |\|)" "$OUT/trial_profile.txt"; } \
  > "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
