#!/usr/bin/env bash
# One GPU session, run from the repository root on a CUDA machine: the GPU tests, the solver and
# training-step benches, then the validity study (bench/validity.py) with a deadline; every
# output lands in $OUT (default ./gpu_out). Wheels the machine lacks (POT, OmegaConf) may be
# carried in .whl/. Usage: OUT=DIR STUDY_DEADLINE=SECONDS JOBS=N bash bench/gpu_session.sh
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export WANDB_MODE=disabled PYTHONUNBUFFERED=1 ACTOT_CACHE=${ACTOT_CACHE:-/tmp/actot_cache} RAY_USAGE_STATS_ENABLED=0
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv;
  python3 -c "import torch, ot; print('torch', torch.__version__, torch.cuda.get_device_name(), 'POT', ot.__version__)";
  nproc; } > "$OUT/device.txt" 2>&1
# Timings first, alone on the machine (SKIP_BENCH=1 skips them).
[ -n "${SKIP_BENCH:-}" ] || timeout 90 python3 bench/bench_sinkhorn.py --repeat 3 > "$OUT/bench_sinkhorn.txt" 2>&1
[ -n "${SKIP_BENCH:-}" ] || timeout 150 python3 bench/bench_train_step.py --policy act --height 480 --width 640 --steps 3 > "$OUT/bench_train_step.txt" 2>&1
[ -n "${SKIP_BENCH:-}" ] || timeout 60 python3 bench/bench_train_step.py --policy act_small --height 32 --width 32 --steps 5 >> "$OUT/bench_train_step.txt" 2>&1
# Then the study (many small trainings at once) and, beside it, the GPU tests.
python3 bench/validity.py run --out "$OUT/validity.jsonl" --runs-dir /tmp/validity_runs --jobs "${JOBS:-14}" \
  --device cuda --deadline "${STUDY_DEADLINE:-300}" ${CONFIGS:+--configs "$CONFIGS"} > "$OUT/validity.log" 2>&1 &
study=$!
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py > "$OUT/test_gpu.txt" 2>&1
wait $study
python3 bench/validity.py analyse "$OUT/validity.jsonl" --plot "$OUT/validity.png" > "$OUT/validity.md" 2>&1
tail -n 3 "$OUT"/*.txt "$OUT/validity.log"
