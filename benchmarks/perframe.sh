#!/usr/bin/env bash
# The per-frame protocols of TCC on the toy data, for each temporal config: train (unless a finished
# run exists under $OUT/runs), extract per-frame embeddings of toy val (the probes' training videos)
# and toy test (held out), evaluate phase / progression / kendall against random init, print a table.
#   bash benchmarks/perframe.sh                    # everything (trains what is missing)
#   CONFIGS="tcn cpc" FRAMES=40 bash benchmarks/perframe.sh
#   TABLE_ONLY=1 bash benchmarks/perframe.sh       # print the table of what is measured
#   RETRAIN=1 bash benchmarks/perframe.sh          # train again (e.g. after a method changed)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/perframe}
CONFIGS=${CONFIGS:-"tcn tcn_single_view shuffle_learn cpc"}
FRAMES=${FRAMES:-20}          # of the toy videos' 40 frames: every other one (40: every frame)
mkdir -p "$OUT"
for name in $CONFIGS; do
  [ -n "${TABLE_ONLY:-}" ] && break
  run=""
  if [ -z "${RETRAIN:-}" ]; then
    for dir in $(ls -d "$OUT/runs/$name"/*/ 2>/dev/null | sort -r); do
      if [ -f "$dir/summary.json" ]; then run=$dir; break; fi
    done
  fi
  if [ -z "$run" ]; then
    start=$(date +%s)
    accelerate launch tools/train.py "configs/$name.yaml" trainer.output_dir="$OUT/runs" > "$OUT/train_$name.log" 2>&1
    run=$(ls -d "$OUT/runs/$name"/*/ | sort | tail -1)
    echo "$name: trained in $(( $(date +%s) - start )) s: $run"
  fi
  emb="$OUT/emb/$name"
  for split in val test; do
    python tools/extract.py --checkpoint "$run" --videos "toy:$split" --label-column action \
      --save-frames --frames "$FRAMES" --out "$emb/$split" --quiet
  done
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # many small fits: one thread each is fastest
  python tools/evaluate.py phase --train "$emb/val" --test "$emb/test" --shots 1 --baseline random \
    --out "$emb/phase.json" --plot "$emb/phase.png" --confusion "$emb/phase_confusion.png"
  python tools/evaluate.py progression --train "$emb/val" --test "$emb/test" --baseline random \
    --out "$emb/progression.json" --plot "$emb/progression.png"
  python tools/evaluate.py kendall --embeddings "$emb/test" --baseline random \
    --out "$emb/kendall.json" --plot "$emb/kendall.png"
done
OUT="$OUT" CONFIGS="$CONFIGS" python - <<'PY'
import json, os
out = os.environ["OUT"]
print("| config | weights | phase accuracy (80 labelled videos) | 1-shot phase accuracy (mean ± std, 10 draws) | progression R^2 | Kendall's tau |")
print("|---|---|---:|---:|---:|---:|")
chance = None
for name in os.environ["CONFIGS"].split():
    emb = f"{out}/emb/{name}"
    try:
        phase, prog, tau = (json.load(open(f"{emb}/{p}.json")) for p in ("phase", "progression", "kendall"))
    except FileNotFoundError:
        print(f"| `{name}.yaml` | not measured yet | | | | |")
        continue
    chance = phase["results"]["chance"]
    for weights, key in (("random init", "baseline"), ("trained", None)):
        pick = lambda doc: doc[key]["results"] if key else doc["results"]
        ph, one = pick(phase), pick(phase)["few_shot"]["1"]
        tau_text = f"{pick(tau)['kendall_tau']:.3f} ({pick(tau)['num_undefined']} of {pick(tau)['num_pairs']} pairs undefined)"
        print(f"| `{name}.yaml` | {weights} | {ph['accuracy']:.3f} | {one['accuracy_mean']:.3f} ± {one['accuracy_std']:.3f} | "
              f"{pick(prog)['r2']:.3f} | {tau_text} |")
if chance is not None:
    print(f"\nchance (share of the majority phase among each action's test frames, mean over actions): {chance:.3f}")
PY
