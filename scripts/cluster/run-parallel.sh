#!/usr/bin/env bash
# Runs a sharded run that `shiftadd jobs --dir DIR` wrote with GNU parallel: the lines of
# DIR/jobs.txt, JOBS at a time (default 1; each shard uses every core unless the command has
# --threads), stopping at the first failing shard, then the merge (DIR/merge.txt, into
# DIR/merged.json). Further arguments go to parallel (for example --sshloginfile FILE to spread
# the shards over machines that share this folder).
set -euo pipefail
dir=${1:?usage: scripts/cluster/run-parallel.sh DIR [JOBS [PARALLEL OPTIONS...]]}
jobs=${2:-1}
shift $(( $# > 1 ? 2 : 1 ))
parallel --will-cite --jobs "$jobs" --halt now,fail=1 --joblog "$dir/parallel.log" "$@" < "$dir/jobs.txt"
sh "$dir/merge.txt"
