#!/usr/bin/env bash
# Macro benchmark: a full `cistern sync` of the local upstream (real nginx, HTTPS) compared with
# limits measured in the same run on the same machine:
#   cp -r      copying the same tree on the same disk, then sync(1): the write-side limit
#   h2load     fetching the same file URLs from the same nginx (1 connection, 100 streams)
# and a second, no-change sync. Prints wall time, CPU (user+sys), peak RSS, connections and
# requests, and the ratios cistern/cp and cistern/h2load.
#
#   bench/sync_macro.sh                          default profile (~60 projects, 55 MiB)
#   bench/sync_macro.sh --profile large --projects 2000 --total-mb 5000
#   BUILD_DIR=build BENCH_DIR=/var/tmp/cistern-bench bench/sync_macro.sh --keep
# Caches are dropped before each timed step when run as root (cold page cache).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${BUILD_DIR:-build}
bench_dir=${BENCH_DIR:-/tmp/cistern-bench}
profile=default projects=0 total_mb=0 jobs=8 keep=0
while (($#)); do
  case $1 in
    --profile) profile=$2; shift 2 ;;
    --projects) projects=$2; shift 2 ;;
    --total-mb) total_mb=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--profile P] [--projects N] [--total-mb MB] [--jobs N] [--keep]" >&2; exit 2 ;;
  esac
done

cistern=$root/$build_dir/tools/cistern/cistern
if [[ ! -x $cistern ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build_dir" --target cistern -j "$(nproc)"
fi
serve=$root/tools/test_upstream/serve.py
upstream=$bench_dir/upstream
cleanup() {
  [[ -f $upstream/server.json ]] && python3 "$serve" stop --workdir "$upstream" || true
  ((keep)) || rm -rf "$bench_dir"
}
trap cleanup EXIT
rm -rf "$bench_dir"
mkdir -p "$bench_dir"

drop_caches() {
  sync
  if [[ -w /proc/sys/vm/drop_caches ]]; then echo 3 >/proc/sys/vm/drop_caches; fi
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
now() { date +%s.%N; }

echo "generating the upstream (profile $profile) ..."
gen_args=(--profile "$profile")
if ((projects > 0)); then gen_args+=(--projects "$projects"); fi
if ((total_mb > 0)); then gen_args+=(--total-mb "$total_mb"); fi
generated=$(now)
python3 "$serve" start --workdir "$upstream" "${gen_args[@]}" >/dev/null
echo "  generated and served in $(python3 -c "print(f'{$(now) - $generated:.1f}')") s"
url=$(field "$upstream/server.json" https_url)
ca=$(field "$upstream/server.json" ca_file)
tree=$(field "$upstream/server.json" tree)
log=$upstream/access.log
files=$(find "$tree/packages" -type f | wc -l)
bytes=$(du -sb "$tree" | cut -f1)
projects_n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["projects"]))' "$tree/simple/index.v1_json")

# Limit 1: copy the same bytes on the same disk.
drop_caches
start=$(now)
cp -r "$tree" "$bench_dir/cp-copy"
sync
cp_s=$(python3 -c "print($(now) - $start)")
rm -rf "$bench_dir/cp-copy"

# Limit 2: the same file URLs from the same nginx with h2load.
find "$tree/packages" -type f -printf "$url/packages/%P\n" >"$bench_dir/urls.txt"
h2load_s=nan
if command -v h2load >/dev/null; then
  drop_caches
  start=$(now)
  h2load -c 1 -m 100 -n "$files" --input-file "$bench_dir/urls.txt" >"$bench_dir/h2load.txt" 2>&1 || true
  h2load_s=$(python3 -c "print($(now) - $start)")
  grep -E "^requests:" "$bench_dir/h2load.txt" | sed 's/^/  h2load /' || true
fi

run_sync() {  # $1: label; prints "wall user sys maxrss_kb" into $bench_dir/$1.time
  local before
  before=$(wc -l <"$log")
  drop_caches
  /usr/bin/time -f "%e %U %S %M" -o "$bench_dir/$1.time" \
    "$cistern" -q sync --mirror "$bench_dir/mirror" --upstream "$url" --ca-file "$ca" --jobs "$jobs"
  tail -n +"$((before + 1))" "$log" >"$bench_dir/$1.log"
}
echo "cistern sync (full) ..."
run_sync full
echo "cistern sync (nothing changed) ..."
run_sync noop

python3 - "$bench_dir" "$cp_s" "$h2load_s" "$files" "$bytes" "$projects_n" <<'PY'
import sys
d, cp_s, h2_s, files, size, projects = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
def stats(label):
    wall, user, sys_, rss = open(f"{d}/{label}.time").read().split()[-4:]
    lines = open(f"{d}/{label}.log").read().splitlines()
    conns = {l.split('"')[4].split()[1] for l in lines if l.count('"') >= 4}
    return float(wall), float(user) + float(sys_), int(rss) / 1024, len(lines), len(conns)
full, noop = stats("full"), stats("noop")
mib = size / 2**20
print()
print(f"upstream: {projects} projects, {files} files, {mib:.1f} MiB")
print(f"{'step':<28}{'wall s':>9}{'cpu s':>9}{'rss MiB':>9}{'requests':>10}{'conns':>7}")
print(f"{'cp -r + sync':<28}{cp_s:>9.2f}")
print(f"{'h2load (1 conn, 100 str)':<28}{h2_s:>9.2f}")
print(f"{'cistern sync (full)':<28}{full[0]:>9.2f}{full[1]:>9.2f}{full[2]:>9.1f}{full[3]:>10}{full[4]:>7}")
print(f"{'cistern sync (no change)':<28}{noop[0]:>9.2f}{noop[1]:>9.2f}{noop[2]:>9.1f}{noop[3]:>10}{noop[4]:>7}")
print(f"ratio cistern/cp-r     = {full[0] / cp_s:.2f}")
if h2_s == h2_s:
    print(f"ratio cistern/h2load   = {full[0] / h2_s:.2f}")
print(f"throughput             = {mib / full[0]:.1f} MiB/s; cpu per GiB = {full[1] / (size / 2**30):.2f} s")
print(f"BENCH sync_full_s={full[0]:.3f} cpu_s={full[1]:.3f} rss_mib={full[2]:.1f} cp_s={cp_s:.3f} "
      f"h2load_s={h2_s:.3f} noop_s={noop[0]:.3f} noop_requests={noop[3]} requests={full[3]} conns={full[4]}")
PY
