#!/bin/sh
# one.sh FAMILY VARIANT SEED [extra bc flags...]: bc clone + 200-episode evaluation, prints the mean sum
fam=$1; var=$2; seed=$3; shift 3
cd ${TREE:-.}
run=runs/assignment_study/${fam}__${var}__s${seed}
case $var in
  none*) flags="";;
  both*) flags="--relabel-entities"; export RELABEL=both;;
  landmarks*) flags="--relabel-entities"; export RELABEL=landmarks;;
  agents*) flags="--relabel-entities"; export RELABEL=agents;;
esac
python main.py bc --demos demos/spread_${fam}_100.npz --seed $seed $flags "$@" --run-dir $run --overwrite >/dev/null 2>&1 || { echo "$fam $var $seed FAILED"; exit 1; }
m=$(python main.py evaluate $run --episodes 200 --seed 123 --json | python -c "import json,sys; print(json.load(sys.stdin)['summary']['mean_sum'])")
echo "$fam $var $seed $m $*" >> runs/assignment_study/results.txt
