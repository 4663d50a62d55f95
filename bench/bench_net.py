# SPDX-License-Identifier: LGPL-2.1-or-later
"""Network-filesystem scenarios of the bench: the same tools, behind slowfs.

slowfs (tests/slowfs) is a FUSE passthrough that adds a fixed latency to
every request (and, for `net-large`, caps the read bandwidth), so a tree on
the local disk behaves like one behind a server: every open, stat, read and
close is a round trip. Ground truth is the same as for the local scenarios:
measure(1) checks the files *through the mount* with mincore/cachestat, and
the evict helper makes them data-cold through the mount, verified.
"""

import os
import sys

import bench as B
import bench_floor as F

NET = {"files": 5000, "size": 16384, "per_dir": 100, "latency_ms": 1.0,
       "large_mib": 1024, "bw": 200_000_000}
NET_QUICK = {"files": 1000, "size": 16384, "per_dir": 100, "latency_ms": 1.0,
             "large_mib": 256, "bw": 200_000_000}


def slowfs_module():
    sys.path.insert(0, os.path.join(B.REPO, "tests", "slowfs"))
    import slowfs  # noqa: E402  (tests/slowfs/slowfs.py)
    return slowfs


def slowfs_exe():
    exe = os.environ.get("SLOWFS", os.path.join(B.REPO, "build", "tests", "slowfs", "slowfs"))
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        B.die(f"slowfs not found at {exe}: build it (ninja -C build; it needs libfuse3-dev), "
              "or set SLOWFS=/path/to/slowfs")
    return exe


def mounted_list(b, backing_files, backing, mnt, name):
    files = [os.path.join(mnt, os.path.relpath(p, backing)) for p in backing_files]
    listf = os.path.join(b.scratch, name)
    B.write_list(listf, files)
    return listf


def verdict_rows(b, tools, res, base_key, key):
    rows, out = [], {}
    base = B.summarize(res.get("cachectl", []), base_key)
    for k, l, c in tools:
        if not c:
            rows.append([l, "not built" if k == "cachectl" else "not installed"])
            continue
        s = res[k]
        t = B.summarize(s, key)
        r = B.ratio(t, base)
        out[k] = {"label": l, "cmd": c, key: t, "ratio_vs_cachectl": r,
                  "samples_reaching_100pct": B.complete(s) if key == "ttr" else None,
                  "samples": s}
        rows.append([l, B.fmt_s(t), B.complete(s) if key == "ttr" else "",
                     B.fmt_ratio(r) + (" " + B.bad_status(s) if B.bad_status(s) else "")])
    return rows, out


def sc_net_prefetch(b, mnt, listf, n, reps):
    B.log(f"\n== net-prefetch: cold {n} files behind slowfs, n={reps} == load {B.loadavg()}")
    cat = ["sh", "-c", 'find "$1" -type f -print0 | xargs -0 cat > /dev/null', "sh", mnt]
    tools = [("cachectl", "cachectl prefetch -r",
              [b.cachectl, "prefetch", "-r", mnt] if b.cachectl else None),
             ("vmtouch", "vmtouch -qt", ["vmtouch", "-qt", mnt] if b.have["vmtouch"] else None),
             ("cat", "find | xargs -0 cat", cat)]
    tools += F.baseline(b, "cachectl prefetch -r", ["prefetch", "-r", mnt]) + F.variants(b, F.NET_PREFETCH, listf)
    res = B.run_tools(b, tools, reps, listf, cold=True)
    rows, out = verdict_rows(b, tools, res, "ttr", "ttr")
    B.log("")
    B.table(rows, ["tool", "time-to-100% s median [min-max]", "reached 100%", "time / cachectl"])
    rv = out.get("vmtouch", {}).get("ratio_vs_cachectl")
    rc = out.get("cat", {}).get("ratio_vs_cachectl")
    full = all(v["samples_reaching_100pct"].split("/")[0] == v["samples_reaching_100pct"].split("/")[1]
               for v in out.values())
    acc = None if rv is None or rc is None else (rv >= 20 and rc >= 20 and full)
    B.log(f"  ratio vmtouch/cachectl = {B.fmt_ratio(rv)}, cat/cachectl = {B.fmt_ratio(rc)} "
          f"(acceptance >= 20x both, 100% resident: {B.verdict(acc)})")
    return F.figures({"files": n, "tools": out, "ratios": {"vmtouch/cachectl": rv, "cat/cachectl": rc},
                      "acceptance": {"vmtouch/cachectl and cat/cachectl >= 20": B.verdict(acc)}},
                     "ttr", cold=True)


def sc_net_query(b, mnt, listf, n, reps):
    B.log(f"\n== net-query: warm {n} files behind slowfs, n={reps} (+1 warm-up) == load {B.loadavg()}")
    b.measure(["sh", "-c", 'find "$1" -type f -print0 | xargs -0 cat > /dev/null', "sh", mnt], listf)
    tools = [("cachectl", "cachectl status -r",
              [b.cachectl, "status", "-r", mnt] if b.cachectl else None),
             ("vmtouch", "vmtouch (query)", ["vmtouch", mnt] if b.have["vmtouch"] else None)]
    tools += F.baseline(b, "cachectl status -r", ["status", "-r", mnt])
    tools += F.check_query(b, F.variants(b, F.NET_QUERY, listf), listf)
    res = B.run_tools(b, tools, reps, None, cold=False, warmup=1)
    rows, out = verdict_rows(b, tools, res, "wall", "wall")
    B.log("")
    B.table(rows, ["tool", "wall s median [min-max]", "", "time / cachectl"])
    rv = out.get("vmtouch", {}).get("ratio_vs_cachectl")
    acc = None if rv is None else rv >= 10
    B.log(f"  ratio vmtouch/cachectl = {B.fmt_ratio(rv)} (acceptance >= 10x: {B.verdict(acc)})")
    return F.figures({"files": n, "tools": out, "ratios": {"vmtouch/cachectl": rv},
                      "acceptance": {"vmtouch/cachectl >= 10": B.verdict(acc)}}, "wall", cold=False)


def sc_net_large(b, mnt, listf, mib, bw, reps):
    B.log(f"\n== net-large: cold {mib} MiB file behind slowfs capped at {bw / 1e6:.0f} MB/s, "
          f"n={reps} == load {B.loadavg()}")
    tools = [("cachectl", "cachectl prefetch",
              [b.cachectl, "prefetch", os.path.join(mnt, "large.bin")] if b.cachectl else None)]
    tools += F.baseline(b, "cachectl prefetch", ["prefetch", os.path.join(mnt, "large.bin")])
    res = B.run_tools(b, tools, reps, listf, cold=True)
    s = res.get("cachectl", [])
    ttr = B.summarize(s, "ttr")
    rate = (mib << 20) / ttr["median"] if ttr else None
    pct = 100.0 * rate / bw if rate else None
    acc = None if pct is None else (pct >= 90 and B.complete(s).split("/")[0] == B.complete(s).split("/")[1])
    B.log(f"  cachectl: time-to-100% {B.fmt_s(ttr)}, {rate / 1e6 if rate else 0:.0f} MB/s = "
          f"{pct or 0:.0f}% of the cap (acceptance >= 90%: {B.verdict(acc)})")
    out = {"mib": mib, "cap_bytes_per_s": bw, "ttr": ttr, "rate": rate,
           "ratios": {"% of cap": pct}, "acceptance": {">= 90% of the cap": B.verdict(acc)},
           "samples": s, "tools": {k: {"label": l, "ttr": B.summarize(res[k], "ttr"), "samples": res[k]}
                                   for k, l, c in tools if c}}
    return F.figures(out, "ttr", cold=True)


class FastCold:
    """Eviction through the mount, with slowfs's latency off meanwhile: it
    opens every file one by one, so at 1 ms per request it took longer
    than all the tools together. The tools always run at full latency."""
    def __init__(self, b, fs, latency):
        self.b, self.fs, self.latency = b, fs, latency
        self.orig = b.cold

    def __enter__(self):
        def cold(listf):
            self.fs.set_latency(0)
            try:
                return self.orig(listf)
            finally:
                self.fs.set_latency(self.latency)
        self.b.cold = cold

    def __exit__(self, *exc):
        self.b.cold = self.orig


def run(b, only, quick, reps):
    """Runs the net-* scenarios in `only`; returns {name: result}."""
    p = dict(NET_QUICK if quick else NET)
    if b.args.files:
        p["files"] = b.args.files
    if b.args.large_mib:
        p["large_mib"] = b.args.large_mib
    slowfs = slowfs_module()
    exe = slowfs_exe()
    out = {}
    mnt_root = os.path.join(b.scratch, "mnt")
    os.makedirs(mnt_root, exist_ok=True)
    slowfs.cleanup_stale(mnt_root)
    if "net-prefetch" in only or "net-query" in only:
        root = os.path.join(b.scratch, f"net-{p['files']}-{p['size']}-s{B.SEED}")
        files, _ = B.gen_tree(root, p["files"], p["per_dir"], p["size"], p["size"], B.SEED + 2, "net")
        mnt = os.path.join(mnt_root, "net")
        os.makedirs(mnt, exist_ok=True)
        B.log(f"  slowfs: {root} on {mnt}, {p['latency_ms']} ms per request")
        with slowfs.SlowFS(root, mnt, latency=p["latency_ms"], exe=exe) as fs, \
                FastCold(b, fs, p["latency_ms"]):
            listf = mounted_list(b, files, root, mnt, "net-mounted.list")
            if "net-prefetch" in only:
                out["net-prefetch"] = sc_net_prefetch(b, mnt, listf, len(files), reps)
            if "net-query" in only:
                out["net-query"] = sc_net_query(b, mnt, listf, len(files), reps)
    if "net-large" in only:
        lroot = os.path.join(b.scratch, f"large-{p['large_mib']}M-s{B.SEED}")
        lpath = B.gen_large(lroot, p["large_mib"], B.SEED)
        mnt = os.path.join(mnt_root, "large")
        os.makedirs(mnt, exist_ok=True)
        B.log(f"  slowfs: {lroot} on {mnt}, {p['latency_ms']} ms per request, "
              f"{p['bw'] / 1e6:.0f} MB/s cap")
        with slowfs.SlowFS(lroot, mnt, latency=p["latency_ms"], bw=p["bw"], exe=exe) as fs, \
                FastCold(b, fs, p["latency_ms"]):
            listf = mounted_list(b, [lpath], lroot, mnt, "net-large-mounted.list")
            out["net-large"] = sc_net_large(b, mnt, listf, p["large_mib"], p["bw"], reps)
    return out
