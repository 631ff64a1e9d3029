#!/usr/bin/env python3
"""Macro benchmark: cistern's full sync against the limits of this machine, then the nightly
incremental runs, all on one nginx serving one generated upstream.

    bench/sync_macro.py              2,000 projects, 5,000 MiB (issue 4's target size)
    bench/sync_macro.py --small      200 projects, 300 MiB (CI-sized, about a minute)

Steps, in this order, each timed on its own (the page cache is dropped before the cold ones when
running as root):
  1. cp -r of the upstream tree on the same disk, then sync(1)         the write-side limit
  2. cistern sync of the full mirror, cold                              the figure under test
  3. h2load over the URLs cistern requested in step 2, one connection,
     100 streams, cold                                                  the network-side limit
  4. cistern sync with nothing changed, warm and cold
  5. generate.py --evolve-from (--changes 50), serve.py reload --tree, cistern sync, and a check
     that the files fetched are exactly changes.json's added packages/ paths

Prints a table, the ratios cistern/cp-r and cistern/h2load, every target with ok/MISSED, and one
`BENCH key=value ...` line; writes the same as JSON to WORK/results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from urllib.parse import unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

# Issue 4 and 5 targets.
WALL_VS_CP = 1.10
CPU_S_PER_BYTE = 15.0 / 7e9  # 15 s per 7 GB
RSS_MIB = 64.0
MAX_CONNECTIONS = 4
NOOP_S = 0.2
NOOP_REQUESTS = 2
EVOLVE_S = 0.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true",
                        help="CI-sized upstream: 200 projects, 300 MiB (unless given)")
    parser.add_argument("--projects", type=int, default=0, help="default 2000 (--small: 200)")
    parser.add_argument("--total-mb", type=int, default=0, help="default 5000 (--small: 300)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--changes", type=int, default=50, help="evolution size (default 50)")
    parser.add_argument("--jobs", type=int, default=0, help="cistern --jobs (default: its own)")
    parser.add_argument("--config", default="",
                        help="cistern.toml for every cistern run (default: an empty one, i.e. "
                             "the documented defaults)")
    parser.add_argument("--build-dir", default=os.path.join(bl.SOURCE_DIR, "build"))
    parser.add_argument("--work", default="/var/tmp/cistern-bench",
                        help="scratch directory, emptied first (default /var/tmp/cistern-bench)")
    parser.add_argument("--cache", default="/var/tmp/cistern-bench-cache",
                        help="where generated upstreams are kept between runs; '' disables")
    parser.add_argument("--keep", action="store_true", help="keep WORK (mirror, logs) afterwards")
    parser.add_argument("--warm", action="store_true", help="never drop the page cache")
    parser.add_argument("--nice", type=int, default=0,
                        help="run every measured command and nginx at this nice value "
                             "(e.g. -10 as root on a shared machine)")
    parser.add_argument("--skip-limits", action="store_true",
                        help="skip cp -r and h2load (cistern runs only)")
    args = parser.parse_args()
    args.projects = args.projects or (200 if args.small else 2000)
    args.total_mb = args.total_mb or (300 if args.small else 5000)
    return args


def upstream_dir(args: argparse.Namespace) -> str:
    """A generate.py output for the arguments, generated once and kept in --cache. File URLs
    are page-relative (no --files-base), so one tree works on any port."""
    name = f"upstream-p{args.projects}-m{args.total_mb}-s{args.seed}"
    base = args.cache or args.work
    out = os.path.join(base, name)
    if os.path.exists(os.path.join(out, "manifest.json")):
        bl.log(f"upstream: reusing {out}")
        return out
    os.makedirs(base, exist_ok=True)
    partial = out + ".partial"
    bl.remove_tree(partial)
    bl.log(f"upstream: generating {args.projects} projects, {args.total_mb} MiB into {out} ...")
    started = time.monotonic()
    subprocess.run([sys.executable, bl.GENERATE, "--out", partial, "--profile", "large",
                    "--projects", str(args.projects), "--total-mb", str(args.total_mb),
                    "--seed", str(args.seed)], check=True)
    os.rename(partial, out)
    bl.log(f"upstream: generated in {time.monotonic() - started:.1f} s")
    return out


def settle_after_delete() -> None:
    """After deleting a previous work tree: flush, then wait until ext4 (without a journal) may
    reuse the freed inodes again (5 s after their deletion once the inode tables are written), so
    the first measured step does not pay for the deletion."""
    subprocess.run(["sync"], check=False)
    time.sleep(10)


def run_cp(tree: str, work: str, cold: bool) -> bl.Measured:
    dest = os.path.join(work, "cp-copy")
    if cold:
        bl.drop_caches()
    copy = bl.measure(["cp", "-r", tree, dest])
    flush = bl.measure(["sync"])
    # Kept until the end: deleting thousands of inodes just before the next step would make its
    # file creations slower (ext4 without a journal skips inodes freed in the last 5 to 35 s and
    # scans on: perf showed half of a full sync's CPU in ext4's recently_deleted()).
    return bl.Measured(copy.wall_s + flush.wall_s, copy.user_s + flush.user_s,
                       copy.sys_s + flush.sys_s, copy.maxrss_mib, 0, "", "")


def run_h2load(server: bl.Server, lines: list[bl.LogLine], work: str,
               cold: bool) -> tuple[bl.Measured, bl.Traffic, dict]:
    """h2load over exactly the URLs of `lines` (cistern's requests), with the Accept and
    Accept-Encoding cistern sent for pages."""
    urls = os.path.join(work, "urls.txt")
    with open(urls, "w") as stream:
        for line in lines:
            stream.write(server.url + line.path + "\n")
    pages = [line for line in lines if line.path.startswith("/simple/")] or lines
    argv = ["h2load", "-c", "1", "-m", "100", "-n", str(len(lines)), "-i", urls]
    if pages[0].accept != "-":
        argv += ["-H", f"accept: {pages[0].accept}"]
    if pages[0].accept_encoding != "-":
        argv += ["-H", f"accept-encoding: {pages[0].accept_encoding}"]
    if cold:
        bl.drop_caches()
    offset = server.log_size()
    nginx_before = server.cpu_ticks()
    run = bl.measure(argv, check=False)
    info: dict = {"status": run.status, "nginx_cpu_s": server.cpu_since(nginx_before)}
    traffic = bl.Traffic.of(server.log_since(offset))
    match = re.search(r"finished in ([\d.]+)(m?s)", run.stdout)
    if match:
        info["finished_s"] = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
    match = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed", run.stdout)
    if match:
        info["succeeded"], info["failed"] = int(match.group(4)), int(match.group(5))
    if run.status != 0 or info.get("failed"):
        bl.log(f"h2load: {run.stdout[-2000:]}{run.stderr[-2000:]}")
    return run, traffic, info


def main() -> int:
    args = parse_args()
    bl.NICE = args.nice
    cistern = bl.find_binary(args.build_dir, "tools/cistern/cistern")
    if not shutil.which("h2load") and not args.skip_limits:
        bl.log("h2load not found: apt-get install nghttp2-client (or --skip-limits)")
        return 2
    work = os.path.abspath(args.work)
    if os.path.exists(os.path.join(work, "nginx", "server.json")):
        subprocess.run([sys.executable, bl.SERVE, "stop", "--workdir",
                        os.path.join(work, "nginx")], timeout=60)
    bl.remove_tree(work)
    os.makedirs(work)
    settle_after_delete()
    gen0 = upstream_dir(args)
    tree = os.path.join(gen0, "tree")
    config = (os.path.abspath(args.config) if args.config
              else bl.write_config(os.path.join(work, "cistern.toml")))
    mirror = os.path.join(work, "mirror")
    with open(os.path.join(gen0, "manifest.json"), "rb") as stream:
        projects = len(json.load(stream)["projects"])
    files, size = bl.tree_stats(tree)
    cold = os.geteuid() == 0 and not args.warm
    results: dict = {"projects": projects, "files": files, "bytes": size,
                     "cold_cache": cold, "load_start": bl.loadavg()}
    bl.log(f"upstream: {projects} projects, {files} files under packages/, "
           f"{size / 2**20:.0f} MiB; load average {results['load_start']:.2f}")
    if not cold:
        bl.log("warm: the page cache is not dropped (not root, or --warm)")
    temp = "cold" if cold else "warm"

    server = bl.Server(os.path.join(work, "nginx"), tree)
    try:
        loads = {}
        cp = None
        if not args.skip_limits:
            bl.log("cp -r + sync ...")
            cp = run_cp(tree, work, cold)
            loads["cp"] = bl.loadavg()

        bl.log(f"cistern sync (full, {temp}) ...")
        full = bl.cistern_sync(cistern, config, mirror, server, args.jobs, cold=cold)
        loads["full"] = bl.loadavg()
        mirrored = bl.relative_files(os.path.join(mirror, "web"), "packages")
        expected = bl.relative_files(tree, "packages")
        complete = mirrored == expected and full.run.status == 0

        h2 = h2_traffic = None
        h2_info: dict = {}
        if not args.skip_limits:
            bl.log("h2load -c1 -m100 over the same URLs ...")
            h2, h2_traffic, h2_info = run_h2load(server, full.lines, work, cold)
            loads["h2load"] = bl.loadavg()

        # Cold first (a nightly run finds little in the page cache), then warm right after it.
        bl.log(f"cistern sync (no change, {temp}) ...")
        noop_cold = bl.cistern_sync(cistern, config, mirror, server, args.jobs, cold=cold)
        bl.log("cistern sync (no change, warm) ...")
        noop = bl.cistern_sync(cistern, config, mirror, server, args.jobs)

        bl.log(f"evolving the upstream (--changes {args.changes}) ...")
        gen1 = os.path.join(work, "gen1")
        started = time.monotonic()
        subprocess.run([sys.executable, bl.GENERATE, "--evolve-from", gen0, "--out", gen1,
                        "--changes", str(args.changes), "--seed", str(args.seed)], check=True)
        evolve_gen_s = time.monotonic() - started
        server.reload(gen1)
        # The generator just wrote and linked ~24,000 paths on this file system: flush them now,
        # or the run's group commit (syncfs) would write them back and be charged for them.
        subprocess.run(["sync"], check=False)
        with open(os.path.join(gen1, "changes.json"), "rb") as stream:
            changes = json.load(stream)
        bl.log("cistern sync (after the evolution, warm) ...")
        evolved = bl.cistern_sync(cistern, config, mirror, server, args.jobs)
        want = {"/" + p for p in changes["added_paths"] if p.startswith("packages/")}
        got = [line.path for line in evolved.lines
               if line.path.startswith("/packages/") and line.status in (200, 206)]
        got_set = {unquote(p) for p in got}
        exact = (sorted(got_set) == sorted(want) and len(got) == len(got_set)
                 and evolved.files_fetched == len(want))
        evolved_tree = os.path.join(gen1, "tree")
        evolved_complete = (bl.relative_files(os.path.join(mirror, "web"), "packages")
                            == bl.relative_files(evolved_tree, "packages"))
    finally:
        server.close()

    # ------------------------------------------------------------------ report
    def row(label: str, m: bl.Measured | None, t: bl.Traffic | None = None,
            nginx_cpu: float | None = None) -> str:
        if m is None:
            return f"{label:<34}{'-':>8}"
        text = f"{label:<34}{m.wall_s:>8.2f}{m.user_s:>8.2f}{m.sys_s:>8.2f}{m.maxrss_mib:>8.1f}"
        text += f"{nginx_cpu:>8.2f}" if nginx_cpu is not None else f"{'':>8}"
        if t is not None:
            text += f"{t.requests:>9}{t.connections:>6}  {t.protocols}"
        return text

    mib = size / 2**20
    print()
    print(f"upstream: {projects} projects, {files} files, {mib:.0f} MiB under packages/; "
          f"{temp} page cache for cp, full sync, h2load; nice {args.nice}; "
          f"load average at start {results['load_start']:.2f} on {os.cpu_count()} cores")
    print(f"{'step':<34}{'wall s':>8}{'user s':>8}{'sys s':>8}{'rss MiB':>8}{'nginx s':>8}"
          f"{'requests':>9}{'conns':>6}")
    print(row("cp -r + sync", cp))
    print(row("h2load -c1 -m100 (same URLs)", h2, h2_traffic, h2_info.get("nginx_cpu_s")))
    for label, r in ((f"cistern sync (full, {temp})", full),
                     (f"cistern sync (no change, {temp})", noop_cold),
                     ("cistern sync (no change, warm)", noop),
                     (f"cistern sync ({args.changes} changes, warm)", evolved)):
        print(row(label, r.run, r.traffic, r.nginx_cpu_s))
    print()
    ratio_cp = full.run.wall_s / cp.wall_s if cp else None
    ratio_h2 = full.run.wall_s / h2.wall_s if h2 else None
    if ratio_cp:
        print(f"cistern/cp-r   = {ratio_cp:.2f}")
    if ratio_h2:
        print(f"cistern/h2load = {ratio_h2:.2f}  (h2load reports {h2_info.get('finished_s', 0):.2f} s"
              f" for {h2_info.get('succeeded', '?')} requests, {h2_info.get('failed', '?')} failed)")
    print(f"full sync: {full.files_fetched} files fetched, {mib / full.run.wall_s:.0f} MiB/s, "
          f"{full.run.cpu_s / (size / 2**30):.2f} CPU s per GiB, nginx statuses {full.traffic.statuses}, "
          f"mirror {'== upstream packages/' if complete else 'DIFFERS from upstream packages/'}")
    print(f"evolution: {len(changes['events'])} events, {len(want)} new files under packages/ "
          f"(generated in {evolve_gen_s:.1f} s); cistern fetched {evolved.files_fetched} "
          f"(nginx: {len(got)} /packages/ requests), removed {evolved.files_removed}; "
          f"mirror {'== gen1 packages/' if evolved_complete else 'DIFFERS from gen1 packages/'}")
    if not exact:
        print(f"  missing: {sorted(want - got_set)[:10]}  extra: {sorted(got_set - want)[:10]}")
    print(f"load average after each step: {', '.join(f'{k} {v:.2f}' for k, v in loads.items())}")

    cpu_target = CPU_S_PER_BYTE * size
    targets = [
        (f"full wall <= {WALL_VS_CP:.2f} x cp -r", f"{ratio_cp:.2f} x" if ratio_cp else "n/a",
         ratio_cp <= WALL_VS_CP if ratio_cp else None),
        (f"full CPU <= {cpu_target:.2f} s (15 s per 7 GB)", f"{full.run.cpu_s:.2f} s",
         full.run.cpu_s <= cpu_target),
        (f"full peak RSS <= {RSS_MIB:.0f} MiB", f"{full.run.maxrss_mib:.1f} MiB",
         full.run.maxrss_mib <= RSS_MIB),
        (f"full connections <= {MAX_CONNECTIONS}", f"{full.traffic.connections}",
         full.traffic.connections <= MAX_CONNECTIONS),
        ("full mirror complete (exit 0, packages/ == upstream)", str(complete), complete),
        (f"no change <= {NOOP_S} s (warm)", f"{noop.run.wall_s:.3f} s", noop.run.wall_s <= NOOP_S),
        (f"no change <= {NOOP_REQUESTS} requests", f"{noop.traffic.requests}",
         noop.traffic.requests <= NOOP_REQUESTS),
        (f"{args.changes} changes <= {EVOLVE_S} s (warm)", f"{evolved.run.wall_s:.3f} s",
         evolved.run.wall_s <= EVOLVE_S),
        (f"{args.changes} changes: exactly the new files fetched",
         f"{evolved.files_fetched} of {len(want)}", exact),
    ]
    print()
    print("targets:")
    for label, value, ok in targets:
        print(f"  {label:<56}{value:>14}  {bl.verdict(ok)}")

    results.update({
        "cp_s": cp.wall_s if cp else None,
        "h2load_s": h2.wall_s if h2 else None, "h2load": h2_info,
        "full": {"wall_s": full.run.wall_s, "cpu_s": full.run.cpu_s, "user_s": full.run.user_s,
                 "sys_s": full.run.sys_s, "rss_mib": full.run.maxrss_mib,
                 "requests": full.traffic.requests, "connections": full.traffic.connections,
                 "protocols": full.traffic.protocols, "files_fetched": full.files_fetched,
                 "status": full.run.status, "complete": complete,
                 "nginx_cpu_s": full.nginx_cpu_s},
        "noop_warm": {"wall_s": noop.run.wall_s, "cpu_s": noop.run.cpu_s,
                      "rss_mib": noop.run.maxrss_mib, "requests": noop.traffic.requests},
        "noop_cold": {"wall_s": noop_cold.run.wall_s, "cpu_s": noop_cold.run.cpu_s,
                      "rss_mib": noop_cold.run.maxrss_mib, "requests": noop_cold.traffic.requests},
        "evolved": {"wall_s": evolved.run.wall_s, "cpu_s": evolved.run.cpu_s,
                    "rss_mib": evolved.run.maxrss_mib, "requests": evolved.traffic.requests,
                    "files_fetched": evolved.files_fetched, "new_files": len(want),
                    "packages_requests": len(got), "exact": exact,
                    "complete": evolved_complete, "events": len(changes["events"])},
        "ratio_cp": ratio_cp, "ratio_h2load": ratio_h2, "loads": loads,
        "targets": [{"target": t, "value": v, "ok": ok} for t, v, ok in targets],
    })
    with open(os.path.join(work, "results.json"), "w") as stream:
        json.dump(results, stream, indent=1)
    print()
    print(f"BENCH projects={projects} mib={mib:.0f} full_s={full.run.wall_s:.3f} "
          f"cpu_s={full.run.cpu_s:.2f} rss_mib={full.run.maxrss_mib:.1f} "
          f"cp_s={cp.wall_s if cp else float('nan'):.3f} "
          f"h2load_s={h2.wall_s if h2 else float('nan'):.3f} "
          f"ratio_cp={ratio_cp or float('nan'):.2f} ratio_h2load={ratio_h2 or float('nan'):.2f} "
          f"conns={full.traffic.connections} requests={full.traffic.requests} "
          f"noop_s={noop.run.wall_s:.3f} noop_requests={noop.traffic.requests} "
          f"noop_cold_s={noop_cold.run.wall_s:.3f} evolve_s={evolved.run.wall_s:.3f} "
          f"evolve_files={evolved.files_fetched}/{len(want)} load={results['load_start']:.2f}")
    if not args.keep:
        bl.remove_tree(work)
    else:
        print(f"kept {work} (results.json, mirror/, nginx/access.log)")
    # Correctness fails the run (mirror complete, exactly the new files fetched, at most 2 requests
    # for no change); time and memory targets are reported, not enforced.
    return 0 if targets[4][2] and targets[6][2] and targets[8][2] else 1


if __name__ == "__main__":
    sys.exit(main())
