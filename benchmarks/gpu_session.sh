#!/usr/bin/env bash
# One GPU session's measurements in a fixed time budget (docs/gpu.md, docs/recipes.md).
#
#   benchmarks/gpu_session.sh DEFUNGI_DIR OUT_DIR [SECONDS]
#
# Runs on the GPU machine of ../shared/GPU.md (Keras on JAX, no TensorFlow) after its offline
# install, from the project root. Jobs run at most JOBS at a time (default 4: processes that
# share one GPU fill the gaps of each other's small batches), in this order, until SECONDS
# (default 540) have passed; a job still running then is stopped, and what it finished (a
# sweep's finished seeds, a CV's finished folds) stays, so the same command with
# QUEUE=defungi_best RESUME=DIR (the runs folder it printed) finishes a CV with resume=true:
#   default               fungiclf-train, the default experiment (synthetic data)
#   overhead, backends    benchmarks/overhead.py and benchmarks/backends.py on DeFungi
#   defungi_best          the GPU recipe, 5-fold CV (photograph-grouped)
#   defungi_best_perfile  the same on the per-file split (leaky), seeds 0, 1, 2, no CV
#   defungi_best_cpu_cv   the CPU recipe, 5-fold CV
#   resnet18_128          the GPU recipe's ResNet-18 try (width 64, 128 px, 100 epochs), one split
#   convmixer64           the GPU recipe at 64 px, one split
#   resnet_convmixer      experiment=defungi_resnet_convmixer (report 004's table) as configured
# Writes OUT_DIR/summary.txt (validation metrics and times only: choosing on them does not
# look at test), OUT_DIR/runs.tgz (every run folder without model files, and the logs) and
# OUT_DIR/gpu.csv (utilisation every 5 s). QUEUE='job job ...' runs those alone. SMOKE=1 adds
# trainer=smoke and shrinks the benchmarks: a rehearsal on a CPU that checks every command.
set -u
data=${1:?usage: gpu_session.sh DEFUNGI_DIR OUT_DIR [SECONDS]}
out=${2:?usage: gpu_session.sh DEFUNGI_DIR OUT_DIR [SECONDS]}
budget=${3:-540}
slots=${JOBS:-4}
mkdir -p "$out"
runs=${RESUME:-$(mktemp -d /tmp/fungiclf-gpu.XXXX)}
logs=$runs/logs
mkdir -p "$logs"
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false           # several jobs share the GPU's memory
export JAX_COMPILATION_CACHE_DIR=$runs/jax-cache     # a CV's folds compile the same steps
export FUNGICLF_CACHE=$runs/cache
train=${TRAIN:-fungiclf-train}
smoke=()
bench=(--epochs 10 --pairs 3)
back=(--epochs 10)
if [ -n "${SMOKE:-}" ]; then
  smoke=(trainer=smoke)
  bench=(--epochs 1 --pairs 1)
  back=(--epochs 1)
fi
resume=()
[ -n "${RESUME:-}" ] && resume=(resume=true)
best=(experiment=defungi_best "dataset.path=$data")

command_of() {   # the command line of job $1, into the array cmd
  case "$1" in
    default)              cmd=($train "hydra.run.dir=$runs/default") ;;
    overhead)             cmd=(python3 benchmarks/overhead.py "$data" "${bench[@]}") ;;
    backends)             cmd=(python3 benchmarks/backends.py "$data" --cache "$FUNGICLF_CACHE" "${back[@]}") ;;
    defungi_best)         cmd=($train "${best[@]}" seed=0 "hydra.run.dir=$runs/$1") ;;
    defungi_best_perfile) cmd=($train -m "${best[@]}" dataset.group_by=none cv.folds=0 seed=0,1,2
                               "hydra.sweep.dir=$runs/$1") ;;
    defungi_best_cpu_cv)  cmd=($train experiment=defungi_best_cpu "dataset.path=$data" cv.folds=5 seed=0
                               "hydra.run.dir=$runs/$1") ;;
    resnet18_128)         cmd=($train "${best[@]}" model=resnet18 model.width=64 preprocess.size=128 trainer.epochs=100
                               trainer.patience=100 optimizer.warmup_epochs=5 cv.folds=0 seed=0 "hydra.run.dir=$runs/$1") ;;
    convmixer64)          cmd=($train "${best[@]}" preprocess.size=64 cv.folds=0 seed=0 "hydra.run.dir=$runs/$1") ;;
    resnet_convmixer)     cmd=($train -m experiment=defungi_resnet_convmixer "dataset.path=$data"
                               "hydra.sweep.dir=$runs/$1") ;;
  esac
  case "$1" in overhead|backends) ;; *) cmd+=("${smoke[@]}" "${resume[@]}") ;; esac
}
queue=(${QUEUE:-default overhead backends defungi_best defungi_best_perfile defungi_best_cpu_cv resnet18_128
        convmixer64 resnet_convmixer})

{ nvidia-smi; python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
} > "$logs/machine.txt" 2>&1
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > "$out/gpu.csv" 2>/dev/null &
monitor=$!

pids=()
running() { local n=0 pid; for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && n=$((n + 1)); done; echo $n; }
started=$SECONDS
for job in "${queue[@]}"; do
  while [ "$(running)" -ge "$slots" ]; do sleep 2; done
  left=$((budget - (SECONDS - started)))
  if [ "$left" -lt 20 ]; then echo "$job: not started (budget spent)" >> "$logs/jobs.txt"; continue; fi
  command_of "$job"
  echo "$job: started at $((SECONDS - started)) s: ${cmd[*]}" >> "$logs/jobs.txt"
  ( t0=$SECONDS; timeout -k 10 "$left" "${cmd[@]}" > "$logs/$job.log" 2>&1
    echo "$job: exit $? after $((SECONDS - t0)) s" >> "$logs/jobs.txt" ) &
  pids+=($!)
done
wait "${pids[@]}"
kill "$monitor" 2>/dev/null

python3 - "$runs" > "$out/summary.txt" 2>&1 <<'PY'
"""Validation metrics and times of every run folder and CV fold under the runs folder."""
import json, sys
from pathlib import Path

root = Path(sys.argv[1])
keys = ("accuracy", "f1_macro", "roc_auc")
for path in sorted(root.rglob("metrics.json")):
    m = json.loads(path.read_text())
    t, c = m.get("timings", {}), m.get("compute", {})
    val = " ".join(f"{k}={m['val'][k]:.4f}" for k in keys if isinstance(m.get("val", {}).get(k), float))
    print(f"{path.parent.relative_to(root)}: val {val}; best epoch {m.get('best_epoch')} of "
          f"{m.get('epochs_run')}; train {t.get('train_seconds', 0):.0f} s, job {t.get('job_seconds', 0):.0f} s; "
          f"{m.get('provenance', {}).get('device')} {c}")
    if "cv" in m:
        print("  cv val mean", {k: round(v, 4) for k, v in m["cv"]["val_mean"].items() if v is not None},
              "sd", {k: round(v, 4) for k, v in m["cv"]["val_sd"].items() if v is not None})
for path in sorted(root.rglob("fold.json")):
    f = json.loads(path.read_text())
    print(f"{path.parent.relative_to(root)}: val", {k: round(v, 4) for k, v in f["val"].items() if v is not None},
          "best epoch", f["best_epoch"])
PY
cat "$logs/jobs.txt" >> "$out/summary.txt"
grep -h -E "ratio|img/s|not installed|failed" "$logs/overhead.log" "$logs/backends.log" >> "$out/summary.txt" 2>/dev/null
tar -czf "$out/runs.tgz" -C "$runs" --exclude='*.keras' --exclude='*.npy' \
    --exclude=cache --exclude=jax-cache --exclude=.fit .
cat "$out/summary.txt"
echo "runs folder: $runs"
