#!/bin/bash
# usage: runs/lane.sh NAME1 NAME2 ... ; runs runs/NAME.cmd one after another, log in runs/NAME.log
cd "$(dirname "$0")/.." && source /work/venv/bin/activate
for name in "$@"; do
  [ -f runs/$name.log ] && grep -aq "Train completed" runs/$name.log && continue
  bash -c "$(cat runs/$name.cmd)" > runs/$name.log 2>&1
done
