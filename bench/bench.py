#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""libcachectl benchmark harness (python3 stdlib only). Started by bench/run.

Runs cachectl side by side with the floor (bench_floor.py), vmtouch 1.3.1,
fincore and `find | xargs cat` (and fio as the device ceiling) in one run, on
trees it generates on a real disk filesystem, with verified data-cold state
before every cold sample.
See bench/README.md for the protocol.
"""

import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

import bench_floor as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MARKER = ".bench-params.json"
TREE_FORMAT = 1          # bump when the generator changes: forces regeneration

# tool -> Debian 12 package
PACKAGES = {
    "vmtouch": "vmtouch",
    "fio": "fio",
    "fincore": "util-linux-extra",
    "find": "findutils",
    "xargs": "findutils",
    "cc": "gcc",
    "findmnt": "util-linux",
}

FULL = {"small_files": 50000, "small_min": 4096, "small_max": 65536,
        "per_dir": 1000, "large_mib": 2048, "rss_files": 200000, "rss_size": 4096}
QUICK = {"small_files": 5000, "small_min": 4096, "small_max": 65536,
         "per_dir": 1000, "large_mib": 256, "rss_files": 20000, "rss_size": 4096}
SEED = 20261124
SCENARIOS = ["prefetch", "query", "large", "rss", "net-prefetch", "net-query", "net-large",
             "scale"]
NET_SCENARIOS = [s for s in SCENARIOS if s.startswith("net-")]
# only when named: its 1M-file tree takes 4 GiB, minutes to make, a quarter hour to run
ALL = [s for s in SCENARIOS if s != "scale"]


def log(msg=""):
    print(msg, flush=True)


def warn(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def die(msg):
    warn(msg)
    sys.exit(1)


def sh(cmd, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, **kw)
    except OSError as e:
        return subprocess.CompletedProcess(cmd, 127, "", str(e))


def first_line(s):
    for line in (s or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def loadavg():
    return read("/proc/loadavg", "?")


# --------------------------------------------------------------------------
# tools and helpers

def ensure_tool(name, required=True):
    """Return True if `name` is on PATH; try apt-get install when root."""
    if shutil.which(name):
        return True
    pkg = PACKAGES.get(name, name)
    warn(f"'{name}' is missing: it comes with the Debian package '{pkg}'")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        warn(f"trying: apt-get install -y {pkg}")
        r = subprocess.run(["apt-get", "install", "-y", pkg],
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT)
            subprocess.run(["apt-get", "install", "-y", pkg],
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if shutil.which(name):
            return True
    msg = f"'{name}' not available: install it with: apt-get install {pkg}"
    if required:
        die(msg)
    warn(msg + " (its column is skipped)")
    return False


# helper -> what it links beyond libc (when compiled here, not by meson)
HELPERS = {"evict": [], "measure": [], "willneed": [], "floor-loop": ["-pthread"],
           "floor-uring": ["-luring"]}


def build_helpers(bindir, build):
    """The helpers as meson built them in BUILD/bench, copied into the
    scratch dir so that a rebuild during the run changes nothing; compiled
    here with cc where that build has none, or an older one."""
    os.makedirs(bindir, exist_ok=True)
    out = {}
    for name, libs in HELPERS.items():
        src = os.path.join(HERE, name + ".c")
        exe = os.path.join(bindir, name)
        built = os.path.join(build, "bench", name)
        newest = max(os.path.getmtime(os.path.join(HERE, d))
                     for d in (name + ".c", "residency.h", "floor.h"))
        if os.path.isfile(built) and os.path.getmtime(built) >= newest:
            shutil.copy2(built, exe)
        else:
            warn(f"{built} is missing or older than its source: compiling {name} here "
                 f"(meson compile -C {build} builds it)")
            r = sh(["cc", "-O2", "-Wall", "-D_GNU_SOURCE", "-o", exe, src] + libs)
            if r.returncode != 0:
                die(f"cannot compile {src}:\n{r.stderr}")
        out[name] = exe
    return out


def lock_scratch(scratch):
    """Two runs in one scratch dir regenerate, evict and mount each other's
    trees: the second one stops here. Returns the descriptor that holds the
    lock until the process exits."""
    import fcntl
    path = os.path.join(scratch, ".bench.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        die(f"{scratch} is in use by another bench run (pid {holder}, holding {path}): "
            "two runs in one scratch dir corrupt each other's trees; wait for it to end, "
            "or give this run its own --scratch DIR")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


# --------------------------------------------------------------------------
# tree generation (deterministic, reused when the marker matches)

def marker_ok(d, params):
    try:
        with open(os.path.join(d, MARKER)) as f:
            return json.load(f) == params
    except (OSError, ValueError):
        return False


def write_marker(d, params):
    with open(os.path.join(d, MARKER), "w") as f:
        json.dump(params, f, sort_keys=True)
        f.write("\n")


def write_list(path, files):
    with open(path, "wb") as f:
        for p in files:
            f.write(p.encode() + b"\0")


def gen_tree(root, n, per_dir, smin, smax, seed, label):
    """n files in directories of per_dir files; sizes uniform in [smin, smax]."""
    params = {"format": TREE_FORMAT, "kind": "tree", "files": n, "per_dir": per_dir,
              "min": smin, "max": smax, "seed": seed}
    listf = root + ".list"
    if marker_ok(root, params) and os.path.exists(listf):
        files = []
        with open(listf, "rb") as f:
            files = [p.decode() for p in f.read().split(b"\0") if p]
        log(f"  {label}: reusing {root} ({len(files)} files)")
        return files, sum(os.stat(p).st_size for p in files)
    if os.path.exists(root):
        shutil.rmtree(root)
    log(f"  {label}: generating {n} files in {root} (seed {seed}) ...")
    t0 = time.monotonic()
    rng = random.Random(seed)
    pool = rng.randbytes(1 << 20)
    files, total = [], 0
    ndirs = (n + per_dir - 1) // per_dir
    i = 0
    for d in range(ndirs):
        dpath = os.path.join(root, f"d{d:04d}")
        os.makedirs(dpath)
        for _ in range(min(per_dir, n - i)):
            size = smin if smin == smax else rng.randint(smin, smax)
            off = rng.randrange(0, len(pool) - size)
            p = os.path.join(dpath, f"f{i:06d}")
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, pool[off:off + size])
            os.close(fd)
            files.append(p)
            total += size
            i += 1
    os.sync()
    write_list(listf, files)
    write_marker(root, params)
    log(f"  {label}: {n} files, {total / 2**20:.0f} MiB in {time.monotonic() - t0:.0f} s")
    return files, total


def gen_large(root, mib, seed):
    params = {"format": TREE_FORMAT, "kind": "large", "mib": mib, "seed": seed}
    path = os.path.join(root, "large.bin")
    listf = root + ".list"
    if marker_ok(root, params) and os.path.exists(path) and os.path.exists(listf):
        log(f"  large: reusing {path} ({mib} MiB)")
        return path
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    log(f"  large: writing {mib} MiB to {path} ...")
    t0 = time.monotonic()
    rng = random.Random(seed)
    block = rng.randbytes(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            # rotate the block so no two MiB are identical
            k = (i * 4099) % len(block)
            f.write(block[k:] + block[:k])
        f.flush()
        os.fsync(f.fileno())
    write_list(listf, [path])
    write_marker(root, params)
    log(f"  large: {mib} MiB in {time.monotonic() - t0:.0f} s")
    return path


# --------------------------------------------------------------------------
# environment

def block_queue(path):
    st = os.stat(path)
    dev = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    sysd = os.path.realpath(f"/sys/dev/block/{dev}")
    if not os.path.isdir(sysd):
        return dev, None, {}
    name = os.path.basename(sysd)
    qdir = os.path.join(sysd, "queue")
    if not os.path.isdir(qdir) and os.path.exists(os.path.join(sysd, "partition")):
        qdir = os.path.join(os.path.dirname(sysd), "queue")
    q = {}
    for k in ("read_ahead_kb", "max_sectors_kb", "scheduler", "rotational", "nr_requests"):
        v = read(os.path.join(qdir, k))
        if v is not None:
            q[k] = v
    return dev, name, q


def damon_info():
    """Read-only: is a DAMON pageout scheme (proactive reclaim) running?"""
    base = "/sys/kernel/mm/damon/admin/kdamonds"
    out = []
    try:
        kds = sorted(d for d in os.listdir(base) if d.isdigit())
    except OSError:
        return "none seen"
    for kd in kds:
        if read(f"{base}/{kd}/state") != "on":
            continue
        cdir = f"{base}/{kd}/contexts"
        for c in sorted(d for d in os.listdir(cdir) if d.isdigit()):
            sdir = f"{cdir}/{c}/schemes"
            aggr = read(f"{cdir}/{c}/monitoring_attrs/intervals/aggr_us", "0")
            for sc in sorted(d for d in os.listdir(sdir) if d.isdigit()):
                act = read(f"{sdir}/{sc}/action", "?")
                amin = read(f"{sdir}/{sc}/access_pattern/age/min", "?")
                try:
                    idle = f"{int(amin) * int(aggr) / 1e6:.0f} s"
                except ValueError:
                    idle = "?"
                out.append(f"DAMON {act} of pages idle >= {idle} (kdamond {kd})")
    return "; ".join(out) if out else "none seen"


def tool_version(cmd, pick=None, env=None):
    r = sh(cmd, env=env)
    text = (r.stdout or "") + "\n" + (r.stderr or "")
    if pick:
        for line in text.splitlines():
            if pick in line:
                return line.strip()
    return first_line(text) or "?"


def snapshot_cachectl(cachectl, scratch, name="cachectl-snapshot"):
    """Copy the binary and its non-system shared libraries (libcachectl.so
    from the build tree) into SCRATCH/NAME, so a rebuild during the run
    cannot mix two versions.  Returns the path of the copy, the environment
    it runs with (its own copied libraries first: two builds' libraries have
    the same soname) and a line saying where it came from."""
    import hashlib
    snap = os.path.join(scratch, name)
    if os.path.exists(snap):
        shutil.rmtree(snap)
    os.makedirs(os.path.join(snap, "tools"))
    os.makedirs(os.path.join(snap, "lib"))
    libs = []
    for line in sh(["ldd", cachectl]).stdout.splitlines():
        parts = line.split("=>")
        if len(parts) != 2:
            continue
        path = parts[1].split("(")[0].strip()
        if path.startswith("/") and not path.startswith(("/lib", "/usr/lib", "/lib64")):
            libs.append(path)
    h = hashlib.sha256()
    copy = os.path.join(snap, "tools", "cachectl")
    for src, dst in [(cachectl, copy)] + [(l, os.path.join(snap, "lib", os.path.basename(l)))
                                          for l in libs]:
        shutil.copy2(src, dst)
        with open(src, "rb") as f:
            h.update(f.read())
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(snap, "lib") + (
        ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    mtime = datetime.datetime.fromtimestamp(os.stat(cachectl).st_mtime, datetime.timezone.utc)
    head = first_line(sh(["git", "-C", source_dir(cachectl), "describe", "--always",
                          "--dirty"]).stdout) or "?"
    origin = (f"{cachectl} (+{len(libs)} lib) sha256:{h.hexdigest()[:16]} built "
              f"{mtime:%Y-%m-%dT%H:%M:%SZ}, source at {head}; run from a copy")
    return copy, env, origin


def source_dir(cachectl):
    """The source tree a meson build tree's binary was built from, else the repo."""
    info = os.path.join(os.path.dirname(os.path.dirname(cachectl)), "meson-info", "meson-info.json")
    try:
        with open(info) as f:
            return json.load(f)["directories"]["source"]
    except (OSError, ValueError, KeyError):
        return REPO


def environment(scratch, cachectl, b):
    env = {}
    env["date_utc"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    u = os.uname()
    env["kernel"] = f"{u.sysname} {u.release} {u.version} {u.machine}"
    cpu = "?"
    for line in (read("/proc/cpuinfo", "") or "").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    env["cpu"] = cpu
    env["nproc"] = len(os.sched_getaffinity(0))
    env["governor"] = read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "n/a")
    mem = "?"
    for line in (read("/proc/meminfo", "") or "").splitlines():
        if line.startswith("MemTotal"):
            mem = line.split(":", 1)[1].strip()
    env["mem_total"] = mem
    r = sh(["findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", "-T", scratch])
    parts = (r.stdout or "").split()
    env["scratch"] = scratch
    env["fstype"] = parts[0] if parts else "?"
    env["fs_source"] = parts[1] if len(parts) > 1 else "?"
    env["mount_options"] = parts[2] if len(parts) > 2 else "?"
    dev, name, q = block_queue(scratch)
    env["block_device"] = f"{name or '?'} ({dev})"
    env["queue"] = q
    env["vm.max_map_count"] = read("/proc/sys/vm/max_map_count", "?")
    env["background_reclaim"] = damon_info()
    env["user"] = "root" if os.geteuid() == 0 else str(os.geteuid())
    tools = {}
    tools["vmtouch"] = tool_version(["vmtouch", "-h"], "vmtouch v") if shutil.which("vmtouch") else "missing"
    tools["fincore"] = tool_version(["fincore", "--version"]) if shutil.which("fincore") else "missing"
    tools["fio"] = tool_version(["fio", "--version"]) if shutil.which("fio") else "missing"
    tools["cachectl"] = (tool_version([cachectl, "--version"], env=b.cmd_env[cachectl])
                         if cachectl else "not built")
    if cachectl:
        env["cachectl_binary"] = b.origin[cachectl]
    if b.baseline:
        tools["baseline"] = tool_version([b.baseline, "--version"], env=b.cmd_env[b.baseline])
        env["baseline_binary"] = b.origin[b.baseline]
    tools["cc"] = tool_version(["cc", "--version"])
    tools["python3"] = sys.version.split()[0]
    env["tools"] = tools
    env["load_start"] = loadavg()
    env["uptime"] = first_line(sh(["uptime"]).stdout)
    return env


# --------------------------------------------------------------------------
# measurement

class Bench:
    def __init__(self, args, scratch):
        self.args = args
        self.h = None
        self.cachectl = None
        self.baseline = None
        self.cmd_env = {}       # binary -> the environment it runs with
        self.origin = {}        # binary -> where its copy came from
        self.scratch = scratch
        self.errlog = os.path.join(scratch, "last-stderr.txt")

    def contender(self, binary, name):
        """Snapshot a cachectl binary to run; returns the copy."""
        copy, env, origin = snapshot_cachectl(binary, self.scratch, name)
        self.cmd_env[copy], self.origin[copy] = env, origin
        return copy

    def cold(self, listf):
        """Verified data-cold state. Returns (ok, info)."""
        mode = self.args.cold
        for attempt in range(3):
            r = sh([self.h["evict"], "-l", listf])
            ok = r.returncode == 0
            if ok and mode in ("drop1", "drop3"):
                with open("/proc/sys/vm/drop_caches", "w") as f:
                    f.write("1" if mode == "drop1" else "3")
                r = sh([self.h["evict"], "-S", "-l", listf])
                ok = r.returncode == 0
            if ok:
                return True, first_line(r.stdout)
            warn(f"eviction not verified (attempt {attempt + 1}): {first_line(r.stdout)} "
                 f"{first_line(r.stderr)}")
            time.sleep(0.5)
        return False, first_line(r.stdout)

    def measure(self, cmd, listf=None, quiet=True, timeout=60):
        m = [self.h["measure"]]
        if quiet:
            m.append("-q")
        if listf:
            m += ["-l", listf, "-T", str(timeout)]
        m.append("--")
        m += cmd
        load = loadavg().split()[0]
        r = sh(m, env=self.cmd_env.get(cmd[0]))
        kv = {}
        lines = r.stdout.strip().splitlines() or [""]
        if not quiet:
            kv["out"] = "\n".join(lines[:-1])
        for tok in lines[-1].split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                try:
                    kv[k] = float(v) if k != "engine" else v
                except ValueError:
                    kv[k] = v
        if "wall" not in kv:
            warn(f"measure failed for {' '.join(cmd)}: {r.stderr.strip()[:300]}")
            return {"failed": True, "stderr": r.stderr[-400:]}
        kv["status"] = int(kv.get("status", 0))
        kv["cpu"] = kv.get("user", 0) + kv.get("sys", 0)
        kv["load1"] = float(load)
        if kv["status"] != 0:
            kv["stderr"] = r.stderr.strip()[-400:]
        return kv


def summarize(samples, key):
    vals = [s[key] for s in samples if not s.get("failed") and not s.get("aborted")
            and isinstance(s.get(key), float) and s[key] >= 0]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt_s(st, unit="s"):
    if st is None:
        return "n/a"
    return f"{st['median']:.3f} [{st['min']:.3f}-{st['max']:.3f}]"


def ratio(a, b):
    if not a or not b or b["median"] <= 0:
        return None
    return a["median"] / b["median"]


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}x"


def verdict(ok):
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def rotate(lst, k):
    k %= len(lst)
    return lst[k:] + lst[:k]


def run_tools(b, tools, reps, listf=None, cold=True, warmup=0, quiet=True):
    """tools: list of (key, label, cmd or None). Round-robin over reps."""
    res = {k: [] for k, _, c in tools if c}
    active = [(k, l, c) for k, l, c in tools if c]
    for _ in range(warmup):
        for k, l, c in active:
            b.measure(c, None, quiet)
    for rep in range(reps):
        for k, l, c in rotate(active, rep):
            info = None
            if cold:
                ok, info = b.cold(listf)
                if not ok:
                    warn(f"{l}: sample {rep + 1} aborted: eviction not verified ({info})")
                    res[k].append({"aborted": True, "evict": info})
                    continue
            s = b.measure(c, listf, quiet)
            s["rep"] = rep + 1
            if info:
                s["evict"] = info
            res[k].append(s)
            st = s.get("status")
            extra = ""
            if "ttr" in s:
                extra = (f" ttr={s['ttr']:.3f}s resident@exit={s['pct_exit']:.2f}%"
                         f" loaded@exit={s['pct_loaded_exit']:.2f}%")
            log(f"    [{rep + 1}/{reps}] {l:<34} wall={s.get('wall', -1):.3f}s{extra}"
                f" cpu={s.get('cpu', 0):.2f}s load={s.get('load1', 0):.2f}"
                + (f" EXIT {st}: {first_line(s.get('stderr', ''))}" if st else ""))
    return res


def complete(samples):
    """'k/n': samples whose every page was seen loaded (ttr >= 0)."""
    ok = [x for x in samples if not x.get("aborted") and not x.get("failed")]
    return f"{sum(1 for x in ok if x.get('ttr', -1) >= 0)}/{len(ok)}"


def table(rows, headers):
    rows = [list(r) + [""] * (len(headers) - len(r)) for r in rows]
    w = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = "  " + "  ".join(str(h).ljust(w[i]) for i, h in enumerate(headers))
    log(line)
    log("  " + "  ".join("-" * w[i] for i in range(len(headers))))
    for r in rows:
        log("  " + "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))


def bad_status(samples):
    st = sorted({s["status"] for s in samples if not s.get("aborted") and s.get("status")})
    return ("exit " + ",".join(map(str, st))) if st else ""


# --------------------------------------------------------------------------
# scenarios

def sc_prefetch(b, tree, listf, nfiles, nbytes, reps):
    log(f"\n== prefetch: cold {nfiles}-file tree ({nbytes / 2**30:.2f} GiB), "
        f"data-cold via {b.args.cold}, n={reps} == load {loadavg()}")
    cat = ["sh", "-c", 'find "$1" -type f -print0 | xargs -0 cat > /dev/null', "sh", tree]
    tools = [("cachectl", "cachectl prefetch -r",
              [b.cachectl, "prefetch", "-r", tree] if b.cachectl else None),
             ("vmtouch", "vmtouch -qt", ["vmtouch", "-qt", tree] if b.have["vmtouch"] else None),
             ("cat", "find | xargs -0 cat", cat)]
    tools += F.baseline(b, "cachectl prefetch -r", ["prefetch", "-r", tree]) + F.variants(b, F.PREFETCH, listf)
    res = run_tools(b, tools, reps, listf, cold=True)
    out = {"files": nfiles, "bytes": nbytes, "cold": b.args.cold, "tools": {}}
    rows = []
    base = summarize(res.get("cachectl", []), "ttr")
    for k, l, c in tools:
        if not c:
            rows.append([l, "not built" if k == "cachectl" else "not installed", "", "", "", "", ""])
            continue
        s = res[k]
        ttr, wall, cpu = summarize(s, "ttr"), summarize(s, "wall"), summarize(s, "cpu")
        pe, pl = summarize(s, "pct_exit"), summarize(s, "pct_loaded_exit")
        done = complete(s)
        r = ratio(ttr, base)
        out["tools"][k] = {"label": l, "cmd": c, "ttr": ttr, "wall": wall, "cpu": cpu,
                           "pct_resident_at_exit": pe, "pct_loaded_at_exit": pl,
                           "samples_reaching_100pct": done,
                           "ratio_vs_cachectl": r, "samples": s}
        rows.append([l, fmt_s(ttr), fmt_s(wall), f"{cpu['median']:.2f}" if cpu else "n/a",
                     f"{pe['median']:.2f}%" if pe else "n/a", f"{pl['median']:.2f}%" if pl else "n/a",
                     done + (" " + bad_status(s) if bad_status(s) else ""), fmt_ratio(r),
                     fmt_ratio(ratio(cpu, summarize(res.get("cachectl", []), "cpu")))])
    log("")
    table(rows, ["tool", "time-to-100% s median [min-max]", "wall s", "cpu s",
                 "resident@exit", "loaded@exit", "reached 100%", "time / cachectl", "cpu / cachectl"])
    log("  loaded = resident, or resident and since taken out by background reclaim (cachestat nr_evicted)")
    rv = out["tools"].get("vmtouch", {}).get("ratio_vs_cachectl")
    rc = out["tools"].get("cat", {}).get("ratio_vs_cachectl")
    full = all(v["samples_reaching_100pct"].split("/")[0] == v["samples_reaching_100pct"].split("/")[1]
               for k, v in out["tools"].items())
    out["ratios"] = {"vmtouch/cachectl": rv, "cat/cachectl": rc}
    log(f"  ratio vmtouch/cachectl = {fmt_ratio(rv)}; cat/cachectl = {fmt_ratio(rc)}; "
        f"all tools reached 100% resident: {'yes' if full else 'NO'}")
    F.figures(out, "ttr", cold=True)
    pf = out["ratios"].get("cachectl % of floor")
    name = "cachectl within 5% of the best floor"
    out["acceptance"][name] = verdict(None if pf is None else pf >= 100 / 1.05 and full)
    log(f"  acceptance: {name}: {out['acceptance'][name]}")
    return out


def sc_query(b, tree, listf, nfiles, reps):
    log(f"\n== query: warm {nfiles}-file tree, n={reps} (+1 warm-up each) == load {loadavg()}")
    w = b.measure(["sh", "-c", 'find "$1" -type f -print0 | xargs -0 cat > /dev/null', "sh", tree], listf)
    log(f"  warmed: {w.get('pct_final', 0):.2f}% resident")
    fin = ["sh", "-c", 'find "$1" -type f -print0 | xargs -0 fincore > /dev/null', "sh", tree]
    tools = [("cachectl", "cachectl status -r", [b.cachectl, "status", "-r", tree] if b.cachectl else None),
             ("vmtouch", "vmtouch (query)", ["vmtouch", tree] if b.have["vmtouch"] else None),
             ("fincore", "find | xargs -0 fincore", fin if b.have["fincore"] else None)]
    tools += F.baseline(b, "cachectl status -r", ["status", "-r", tree])
    tools += F.check_query(b, F.variants(b, F.QUERY, listf), listf)
    res = run_tools(b, tools, reps, None, cold=False, warmup=1)
    after = b.measure(["true"], listf)
    out = {"files": nfiles, "pct_resident_before": w.get("pct_final"),
           "pct_resident_after": after.get("pct_exit"), "tools": {}}
    # residency hardly changes what a query costs; background reclaim may
    # take a little out during the run: shown, not corrected
    base = summarize(res.get("cachectl", []), "wall")
    rows = []
    for k, l, c in tools:
        if not c:
            rows.append([l, "not built" if k == "cachectl" else "not installed", "", "", ""])
            continue
        s = res[k]
        wall, cpu = summarize(s, "wall"), summarize(s, "cpu")
        r = ratio(wall, base)
        out["tools"][k] = {"label": l, "cmd": c, "wall": wall, "cpu": cpu,
                           "us_per_file": wall["median"] / nfiles * 1e6 if wall else None,
                           "ratio_vs_cachectl": r, "samples": s}
        rows.append([l, fmt_s(wall), f"{cpu['median']:.3f}" if cpu else "n/a",
                     f"{wall['median'] / nfiles * 1e6:.2f}" if wall else "n/a",
                     fmt_ratio(r) + (" " + bad_status(s) if bad_status(s) else ""),
                     fmt_ratio(ratio(cpu, summarize(res.get("cachectl", []), "cpu")))])
    log("")
    table(rows, ["tool", "wall s median [min-max]", "cpu s", "us/file", "time / cachectl",
                 "cpu / cachectl"])
    rv = out["tools"].get("vmtouch", {}).get("ratio_vs_cachectl")
    rf = out["tools"].get("fincore", {}).get("ratio_vs_cachectl")
    out["ratios"] = {"vmtouch/cachectl": rv, "fincore/cachectl": rf}
    out["acceptance"] = {"vmtouch/cachectl >= 3": verdict(None if rv is None else rv >= 3.0),
                         "fincore/cachectl > 1": verdict(None if rf is None else rf > 1.0)}
    log(f"  resident before/after: {out['pct_resident_before'] or 0:.2f}% / "
        f"{out['pct_resident_after'] or 0:.2f}%")
    log(f"  ratio vmtouch/cachectl = {fmt_ratio(rv)} (acceptance >= 3x: "
        f"{out['acceptance']['vmtouch/cachectl >= 3']}); fincore/cachectl = {fmt_ratio(rf)} "
        f"(acceptance > 1x: {out['acceptance']['fincore/cachectl > 1']})")
    F.figures(out, "wall", cold=False)
    r2 = F.floor_ratio(out, "wall", "floor_cachestat_t2")
    name = "cachectl within 10% of the 2-thread floor"
    out["ratios"]["cachectl/2-thread floor"] = r2
    out["acceptance"][name] = verdict(None if r2 is None else r2 <= 1.10)
    log(f"  cachectl / 2-thread floor = {fmt_ratio(r2)} (acceptance <= 1.10x: "
        f"{out['acceptance'][name]})")
    return out


def sc_large(b, path, listf, mib, reps):
    size = mib << 20
    log(f"\n== large: cold {mib} MiB file, data-cold via {b.args.cold}, n={reps} == load {loadavg()}")
    fio_json = os.path.join(b.scratch, "fio.json")
    fio = ["fio", "--name=seq", f"--filename={path}", "--rw=read", "--direct=1", "--bs=1M",
           "--iodepth=32", "--ioengine=libaio", f"--size={size}", "--readonly",
           "--output-format=json", f"--output={fio_json}"]
    # informational: the same with requests as large as the device takes
    # (max_sectors_kb), which is what buffered readahead sends; not the ceiling
    msk = b.env["queue"].get("max_sectors_kb", "1024")
    fio_big = [a if a != "--bs=1M" else f"--bs={msk}k" for a in fio]
    cc = b.cachectl
    tools = [("fio", "fio direct qd32 (ceiling)", fio if b.have["fio"] else None),
             ("fio_big", f"fio direct qd32 bs={msk}k (info)",
              fio_big if b.have["fio"] and msk != "1024" else None),
             ("cachectl", "cachectl prefetch", [cc, "prefetch", path] if cc else None),
             ("cachectl_wait", "cachectl prefetch --wait", [cc, "prefetch", "--wait", path] if cc else None),
             *F.baseline(b, "cachectl prefetch", ["prefetch", path]),
             ("vmtouch", "vmtouch -qt", ["vmtouch", "-qt", path] if b.have["vmtouch"] else None),
             ("cat", "cat FILE > /dev/null", ["sh", "-c", 'cat "$1" > /dev/null', "sh", path]),
             ("ref", "ref: fadvise 8 MiB chunks", [b.h["willneed"], path])]
    res = {k: [] for k, _, c in tools if c}
    active = [t for t in tools if t[2]]
    for rep in range(reps):
        for k, l, c in rotate(active, rep):
            ok, info = b.cold(listf)
            if not ok:
                warn(f"{l}: sample {rep + 1} aborted: eviction not verified ({info})")
                res[k].append({"aborted": True, "evict": info})
                continue
            if k.startswith("fio"):
                try:
                    os.unlink(fio_json)
                except OSError:
                    pass
                s = b.measure(c, None)
                try:
                    with open(fio_json) as f:
                        txt = f.read()
                    # fio may print notes before the JSON document
                    j = json.loads(txt[txt.index("{"):])
                    s["mbps"] = j["jobs"][0]["read"]["bw_bytes"] / 1e6
                except (OSError, ValueError, KeyError, IndexError) as e:
                    s["failed"] = True
                    s["stderr"] = f"fio json: {e}"
                extra = f" read={s.get('mbps', 0):.0f} MB/s"
            else:
                s = b.measure(c, listf)
                if s.get("ttr", -1) > 0:
                    s["mbps"] = size / s["ttr"] / 1e6
                extra = (f" ttr={s.get('ttr', -1):.3f}s resident@exit={s.get('pct_exit', 0):.2f}%"
                         f" -> {s.get('mbps', 0):.0f} MB/s")
            s["rep"] = rep + 1
            s["evict"] = info
            res[k].append(s)
            st = s.get("status")
            log(f"    [{rep + 1}/{reps}] {l:<30} wall={s.get('wall', -1):.3f}s{extra}"
                f" load={s.get('load1', 0):.2f}"
                + (f" EXIT {st}: {first_line(s.get('stderr', ''))}" if st else ""))
    out = {"bytes": size, "cold": b.args.cold, "tools": {}}
    ceiling = summarize(res.get("fio", []), "mbps")
    rows = []
    for k, l, c in tools:
        if not c:
            if k != "fio_big":
                rows.append([l, "not built" if k.startswith("cachectl") else "not installed"])
            continue
        s = res[k]
        mb, ttr, wall = summarize(s, "mbps"), summarize(s, "ttr"), summarize(s, "wall")
        pe = summarize(s, "pct_exit")
        pct = (mb["median"] / ceiling["median"] * 100) if mb and ceiling else None
        done = complete(s) if not k.startswith("fio") else "-"
        out["tools"][k] = {"label": l, "cmd": c, "mbps": mb, "ttr": ttr, "wall": wall,
                           "pct_resident_at_exit": pe, "pct_of_fio": pct,
                           "samples_reaching_100pct": done, "samples": s}
        rows.append([l, f"{mb['median']:.0f} [{mb['min']:.0f}-{mb['max']:.0f}]" if mb else "n/a",
                     fmt_s(ttr) if not k.startswith("fio") else "-", fmt_s(wall),
                     (f"{pe['median']:.2f}%" if pe else "-"), done,
                     (f"{pct:.0f}%" if pct is not None else "n/a") + (" " + bad_status(s) if bad_status(s) else "")])
    log("")
    table(rows, ["tool", "MB/s median [min-max]", "time-to-100% s", "wall s", "resident@exit",
                 "reached 100%", "% of fio"])
    p = out["tools"].get("cachectl", {}).get("pct_of_fio")
    pw = out["tools"].get("cachectl_wait", {}).get("pct_of_fio")
    out["ceiling_mbps"] = ceiling
    out["ratios"] = {"cachectl % of fio": p, "cachectl --wait % of fio": pw}
    out["acceptance"] = {"cachectl >= 80% of fio": verdict(None if p is None else p >= 80.0)}
    F.figures(out, "ttr", cold=True)
    log(f"  MB = 10^6 bytes; cachectl rate = {mib} MiB / time-to-100%-resident")
    log(f"  cachectl prefetch = {'n/a' if p is None else f'{p:.0f}%'} of fio "
        f"(acceptance >= 80%: {out['acceptance']['cachectl >= 80% of fio']}); "
        f"--wait = {'n/a' if pw is None else f'{pw:.0f}%'}")
    return out


def sc_rss(b, tree, listf, nfiles, reps):
    log(f"\n== rss: {nfiles}-file tree, peak RSS (ru_maxrss), n={reps} == load {loadavg()}")
    cc = b.cachectl
    tools = [("cachectl_prefetch", "cachectl prefetch -r (cold)", [cc, "prefetch", "-r", tree] if cc else None, True),
             ("cachectl_status", "cachectl status -r (warm)", [cc, "status", "-r", tree] if cc else None, False),
             ("vmtouch", "vmtouch (query, warm)", ["vmtouch", tree] if b.have["vmtouch"] else None, False)]
    if b.baseline:
        tools += [("baseline_prefetch", "baseline: cachectl prefetch -r (cold)",
                   [b.baseline, "prefetch", "-r", tree], True),
                  ("baseline_status", "baseline: cachectl status -r (warm)",
                   [b.baseline, "status", "-r", tree], False)]
    res = {t[0]: [] for t in tools if t[2]}
    for rep in range(reps):
        warm = False
        for k, l, c, cold in tools:
            if not c:
                continue
            info = None
            if cold:
                ok, info = b.cold(listf)
                if not ok:
                    res[k].append({"aborted": True, "evict": info})
                    continue
            elif not warm:
                # the warm queries need the tree resident, whatever the prefetch did
                if b.measure(["true"], listf).get("pct_exit", 0) < 100.0:
                    b.measure(["sh", "-c", 'find "$1" -type f -print0 | xargs -0 cat > /dev/null',
                               "sh", tree])
                warm = True
            s = b.measure(c, listf if cold else None)
            s["rep"] = rep + 1
            s["maxrss_mib"] = s.get("maxrss_kb", -1) / 1024
            res[k].append(s)
            st = s.get("status")
            log(f"    [{rep + 1}/{reps}] {l:<30} wall={s.get('wall', -1):.3f}s "
                f"maxrss={s['maxrss_mib']:.1f} MiB"
                + (f" loaded={s.get('pct_loaded_final', 0):.2f}%" if cold else "")
                + (f" EXIT {st}: {first_line(s.get('stderr', ''))}" if st else ""))
    out = {"files": nfiles, "tools": {}}
    rows = []
    for k, l, c, _ in tools:
        if not c:
            rows.append([l, "not built" if k.startswith("cachectl") else "not installed", "", ""])
            continue
        s = res[k]
        rss, wall = summarize(s, "maxrss_mib"), summarize(s, "wall")
        out["tools"][k] = {"label": l, "cmd": c, "maxrss_mib": rss, "wall": wall, "samples": s}
        rows.append([l, f"{rss['median']:.1f} [{rss['min']:.1f}-{rss['max']:.1f}]" if rss else "n/a",
                     fmt_s(wall), bad_status(s)])
    log("")
    table(rows, ["tool", "peak RSS MiB median [min-max]", "wall s", "status"])
    worst = [v["maxrss_mib"]["max"] for k, v in out["tools"].items()
             if k.startswith("cachectl") and v["maxrss_mib"]]
    acc = None if not worst else max(worst) < 32.0
    out["acceptance"] = {"cachectl peak RSS < 32 MiB": verdict(acc)}
    if b.baseline:
        t = out["tools"]
        out["ratios"] = {f"new/old {v}": ratio(t.get(f"cachectl_{v}", {}).get("maxrss_mib"),
                                               t.get(f"baseline_{v}", {}).get("maxrss_mib"))
                         for v in ("prefetch", "status")}
    log(f"  worst cachectl peak RSS = {'n/a' if not worst else f'{max(worst):.1f} MiB'} "
        f"(acceptance < 32 MiB: {verdict(acc)})")
    return out


# --------------------------------------------------------------------------

def strip_samples(o):
    if isinstance(o, dict):
        return {k: strip_samples(v) for k, v in o.items() if k not in ("samples", "cmd")}
    return o


def main():
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=5, metavar="REPS", help="repetitions per tool (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 5k-file tree, 256 MiB file, 20k-file RSS tree")
    ap.add_argument("--only", default="all",
                    help="comma list of: prefetch, query, large, rss, net-prefetch, net-query, "
                         "net-large, scale (default all: every one but scale)")
    ap.add_argument("--scratch", default=os.environ.get("BENCH_SCRATCH", "/var/tmp/cachectl-bench"),
                    help="scratch dir on a disk filesystem (default /var/tmp/cachectl-bench)")
    ap.add_argument("--cold", choices=["fadvise", "drop1", "drop3"], default="fadvise",
                    help="how to make data cold: fadvise = per-file DONTNEED, verified (default); "
                         "drop1 = that plus drop_caches=1; drop3 = plus drop_caches=3 (metadata-cold too). "
                         "All verified with cachestat.")
    ap.add_argument("--skip-cachectl", action="store_true",
                    help="run without cachectl (its columns say 'not built')")
    ap.add_argument("--baseline", metavar="DIR",
                    help="meson build directory of another checkout (or its cachectl binary): "
                         "its cachectl runs as one more contender, and every scenario prints new/old")
    ap.add_argument("--files", type=int, metavar="N",
                    help="N files in the prefetch/query, rss and net trees instead of the "
                         "default (smoke tests; figures are not comparable)")
    ap.add_argument("--large-mib", type=int, metavar="M",
                    help="size of the large (and net-large) file in MiB instead of the default")
    ap.add_argument("--allow-tmpfs", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    only = ALL if args.only == "all" else [s.strip() for s in args.only.split(",")]
    for s in only:
        if s not in SCENARIOS:
            die(f"--only: unknown scenario '{s}' (choose from {', '.join(SCENARIOS)})")
    if args.n < 1:
        die("-n must be >= 1")
    if args.n < 5:
        warn(f"-n {args.n} is below the protocol's 5 repetitions")
    if (args.files is not None and args.files < 1) or (args.large_mib is not None and args.large_mib < 1):
        die("--files and --large-mib must be >= 1")
    if args.cold != "fadvise" and os.geteuid() != 0:
        die("--cold drop1/drop3 needs root (writes /proc/sys/vm/drop_caches)")

    cachectl = os.environ.get("CACHECTL")
    if args.skip_cachectl:
        cachectl = None
    else:
        explicit = cachectl is not None
        if not cachectl:
            cachectl = os.path.join(REPO, "build", "tools", "cachectl")
        if not (os.path.isfile(cachectl) and os.access(cachectl, os.X_OK)):
            die(f"cachectl binary not found at {cachectl}"
                + ("" if explicit else " (the default, build/tools/cachectl under the repo root)")
                + ".\n  Build it (meson setup build && ninja -C build), or set CACHECTL=/path/to/cachectl,"
                  "\n  or pass --skip-cachectl to run only vmtouch, fincore, cat and fio.")
        cachectl = os.path.abspath(cachectl)
    baseline = None
    if args.baseline:
        baseline = args.baseline
        if os.path.isdir(baseline):
            baseline = os.path.join(baseline, "tools", "cachectl")
        if not (os.path.isfile(baseline) and os.access(baseline, os.X_OK)):
            die(f"--baseline: no cachectl binary at {baseline} (give a meson build directory, "
                "e.g. one of a checkout of the commit before the change, built with "
                "meson setup DIR && meson compile -C DIR)")
        baseline = os.path.abspath(baseline)

    ensure_tool("cc")
    ensure_tool("findmnt")
    have = {"vmtouch": ensure_tool("vmtouch", False), "fio": ensure_tool("fio", False),
            "fincore": ensure_tool("fincore", False)}

    p = dict(QUICK if args.quick else FULL)
    if args.files:
        p["small_files"] = p["rss_files"] = args.files
    if args.large_mib:
        p["large_mib"] = args.large_mib
    scratch = os.path.abspath(args.scratch)
    os.makedirs(scratch, exist_ok=True)
    lock = lock_scratch(scratch)  # noqa: F841 (held until exit)
    b = Bench(args, scratch)
    if cachectl:
        cachectl = b.cachectl = b.contender(cachectl, "cachectl-snapshot")
    if baseline:
        b.baseline = b.contender(baseline, "baseline-snapshot")
    env = environment(scratch, cachectl, b)
    if env["fstype"] in ("tmpfs", "ramfs", "devtmpfs", "overlay") and not args.allow_tmpfs:
        die(f"{scratch} is on {env['fstype']}: the bench needs a disk filesystem (use --scratch)")

    need = 0
    if "prefetch" in only or "query" in only:
        need += p["small_files"] * (p["small_min"] + p["small_max"]) // 2
    if "large" in only:
        need += p["large_mib"] << 20
    if "rss" in only:
        need += p["rss_files"] * p["rss_size"]
    if "scale" in only:
        import bench_scale
        scale_p = bench_scale.SCALE_QUICK if args.quick else bench_scale.SCALE
        need += bench_scale.need_bytes(scale_p)
    free = shutil.disk_usage(scratch).free
    if free < need * 1.3:
        die(f"{scratch}: {free >> 20} MiB free, the trees need about {int(need * 1.3) >> 20} MiB")

    log("libcachectl benchmark " + ("(--quick) " if args.quick else "")
        + (f"(--files {args.files}) " if args.files else "")
        + (f"(--large-mib {args.large_mib}) " if args.large_mib else "") + env["date_utc"])
    log(f"  kernel       {env['kernel']}")
    log(f"  cpu          {env['cpu']} x {env['nproc']} (governor {env['governor']}), mem {env['mem_total']}")
    log(f"  scratch      {scratch}: {env['fstype']} on {env['fs_source']} ({env['mount_options']})")
    q = env["queue"]
    log(f"  device       {env['block_device']} read_ahead_kb={q.get('read_ahead_kb', '?')} "
        f"max_sectors_kb={q.get('max_sectors_kb', '?')} scheduler={q.get('scheduler', '?')} "
        f"rotational={q.get('rotational', '?')}")
    log(f"  vm.max_map_count {env['vm.max_map_count']}; user {env['user']}")
    log(f"  bg reclaim   {env['background_reclaim']}")
    for k, v in env["tools"].items():
        log(f"  {k:<12} {v}")
    log(f"  cachectl bin {env.get('cachectl_binary') or 'not built (--skip-cachectl)'}")
    if baseline:
        log(f"  baseline bin {env['baseline_binary']}")
    log(f"  load         {env['uptime']}")
    log(f"  protocol     n={args.n} per tool, round-robin; cold = {args.cold} + cachestat-verified "
        f"0 pages before every cold sample; medians [min-max]")

    b.h = build_helpers(os.path.join(scratch, "bin"),
                        os.environ.get("BENCH_BUILD", os.path.join(REPO, "build")))
    b.have = have
    b.env = env

    log("\ntrees:")
    tag = "quick" if args.quick else "full" if not (args.files or args.large_mib) else "small"
    results = {"env": env, "params": dict(p, seed=SEED, reps=args.n, cold=args.cold,
                                          quick=args.quick, only=only,
                                          baseline=baseline), "scenarios": {}}
    t_start = time.monotonic()
    if "prefetch" in only or "query" in only:
        root = os.path.join(scratch, f"small-{p['small_files']}-{p['small_min']}-{p['small_max']}-s{SEED}")
        files, nbytes = gen_tree(root, p["small_files"], p["per_dir"], p["small_min"],
                                 p["small_max"], SEED, "small")
        small = (root, root + ".list", len(files), nbytes)
    if "large" in only:
        lroot = os.path.join(scratch, f"large-{p['large_mib']}M-s{SEED}")
        lpath = gen_large(lroot, p["large_mib"], SEED)
    if "rss" in only:
        rroot = os.path.join(scratch, f"rss-{p['rss_files']}-{p['rss_size']}-s{SEED}")
        rfiles, _ = gen_tree(rroot, p["rss_files"], p["per_dir"], p["rss_size"], p["rss_size"],
                             SEED + 1, "rss")

    # the helpers must agree with the kernel before anything is measured
    probe_list = (small[1] if "prefetch" in only or "query" in only
                  else lroot + ".list" if "large" in only
                  else rroot + ".list" if "rss" in only else None)
    if probe_list:
        probe = sh([b.h["measure"], "-l", probe_list, "--", "true"])
        env["residency_engine"] = dict(t.split("=", 1) for t in probe.stdout.split()
                                       if "=" in t).get("engine", "?")
        log(f"  residency ground truth: {env['residency_engine']} (mincore: data in memory; "
            f"cachestat: eviction and shadow entries)")

    sc = results["scenarios"]
    if "prefetch" in only:
        sc["prefetch"] = sc_prefetch(b, small[0], small[1], small[2], small[3], args.n)
    if "query" in only:
        sc["query"] = sc_query(b, small[0], small[1], small[2], args.n)
    if "large" in only:
        sc["large"] = sc_large(b, lpath, lroot + ".list", p["large_mib"], args.n)
    if "rss" in only:
        sc["rss"] = sc_rss(b, rroot, rroot + ".list", len(rfiles), args.n)
    if "scale" in only:
        sc["scale"] = bench_scale.run(b, scale_p, args.n)
    net = [s for s in only if s in NET_SCENARIOS]
    if net:
        import bench_net
        if (args.only == "all" and not os.environ.get("SLOWFS") and not os.path.exists(
                os.path.join(REPO, "build", "tests", "slowfs", "slowfs"))):
            warn("slowfs is not built (needs libfuse3-dev): skipping " + ", ".join(net))
        else:
            sc.update(bench_net.run(b, net, args.quick, args.n))
    env["load_end"] = loadavg()
    results["elapsed_s"] = time.monotonic() - t_start

    log(f"\n== summary ({tag}, n={args.n}, load start {env['load_start'].split()[0]} "
        f"end {env['load_end'].split()[0]}, {results['elapsed_s']:.0f} s) ==")
    for name, s in sc.items():
        rs = ", ".join(f"{k} = {('n/a' if v is None else (f'{v:.0f}%' if '%' in k else f'{v:.2f}x'))}"
                       for k, v in s.get("ratios", {}).items())
        acc = ", ".join(f"{k}: {v}" for k, v in s.get("acceptance", {}).items())
        log(f"  {name:<12} {rs}{'; ' if rs else ''}{acc}")
        if s.get("floor"):
            log(f"  {'':<12} best floor: {s['floor']['best']}")
    load1 = float(env["load_start"].split()[0])
    if load1 > env["nproc"] * 0.5 or float(env["load_end"].split()[0]) > env["nproc"] * 0.5:
        log(f"  NOTE: the machine was loaded (loadavg {env['load_start'].split()[0]} -> "
            f"{env['load_end'].split()[0]} on {env['nproc']} CPUs): figures are noisy")

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    jpath = os.path.join(scratch, f"results-{tag}-{stamp}.json")
    with open(jpath, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    shutil.copyfile(jpath, os.path.join(scratch, f"results-{tag}-latest.json"))
    log(f"\nfull results (every sample): {jpath}")
    log("summary json:")
    log(json.dumps({"env": {k: env[k] for k in ("date_utc", "kernel", "cpu", "nproc", "fstype",
                                                 "block_device", "queue", "tools", "load_start",
                                                 "load_end")},
                    "params": results["params"], "scenarios": strip_samples(sc)}, sort_keys=True))


if __name__ == "__main__":
    main()
