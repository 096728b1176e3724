#!/usr/bin/env bash
# Runs a sharded run that `shiftadd jobs --dir DIR` wrote with GNU parallel: the lines of
# DIR/jobs.txt, JOBS at a time (default 1; each shard uses every core unless the command has
# --threads), with a job log in DIR/parallel.log; then the merge (DIR/merge.txt, into
# DIR/merged.json) whatever the shards' exit statuses (a shard that found a mismatch exits 1
# but writes its report; one that wrote none makes the merge fail naming it). Exit status 0 only
# when every shard and the merge succeeded. Further arguments go to parallel, for example
# `--sshloginfile FILE --workdir .` to spread the shards over machines that share this folder.
set -euo pipefail
dir=${1:?usage: scripts/cluster/run-parallel.sh DIR [JOBS [PARALLEL OPTIONS...]]}
jobs=${2:-1}
shift $(( $# > 1 ? 2 : 1 ))
status=0
parallel --will-cite --jobs "$jobs" --joblog "$dir/parallel.log" "$@" < "$dir/jobs.txt" || status=$?
sh "$dir/merge.txt" || status=$?
exit "$status"
