#!/usr/bin/env bash
# Submits a sharded run that `shiftadd jobs --dir DIR` wrote: an array job with one task per line
# of DIR/jobs.txt (slurm-array.sbatch), and the merge (DIR/merge.txt, into DIR/merged.json) as a
# job that starts once every shard has ended (`afterany`: a shard that found a mismatch exits 1
# but writes its report, and the merge reports it; a shard that wrote no report makes the merge
# fail naming it). Further arguments go to both sbatch calls (for example --partition=P
# --time=4:00:00). Run it from the folder the jobs' paths are relative to. Prints the two job
# ids: ARRAY MERGE.
set -euo pipefail
dir=${1:?usage: scripts/cluster/submit-slurm.sh DIR [SBATCH OPTIONS...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
n=$(grep -c . "$dir/jobs.txt")
array=$(sbatch --parsable --array=1-"$n" --output="$dir/slurm-%A_%a.out" "$@" \
  "$here/slurm-array.sbatch" "$dir")
array=${array%%;*}
merge=$(sbatch --parsable --dependency=afterany:"$array" --job-name=shiftadd-merge --ntasks=1 \
  --output="$dir/slurm-merge-%j.out" "$@" --wrap="sh $(printf %q "$dir/merge.txt")")
merge=${merge%%;*}
echo "$array $merge"
