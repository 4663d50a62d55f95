# SPDX-License-Identifier: LGPL-2.1-or-later
"""The `scale` scenario: how cachectl grows with the number of files.

Trees of 10k, 100k and 1M files of 4 KiB (1000 per directory), made once in
the scratch dir and reused (the bench's scratch lock is held meanwhile).
For each tree: `cachectl status -r` warm and `cachectl prefetch -r` from
data-cold, wall time (time-to-100% for the prefetch) and peak RSS each,
with `vmtouch` (query) and `vmtouch -qt` beside. The acceptance is that the
time per file at the largest tree stays within 1.3x of the smallest, for
both verbs, and that peak RSS at the largest stays under 32 MiB.

It is never part of `--only all`: the 1M-file tree takes 4 GiB and minutes
to make, and a run takes a quarter of an hour.
"""

import bench as B

SCALE = {"sizes": [10_000, 100_000, 1_000_000], "size": 4096, "per_dir": 1000}
SCALE_QUICK = {"sizes": [1000, 5000, 20_000], "size": 4096, "per_dir": 1000}


def need_bytes(p):
    return sum(p["sizes"]) * p["size"]


def make_trees(b, p):
    trees = []
    for n in p["sizes"]:
        root = f"{b.scratch}/scale-{n}-{p['size']}-s{B.SEED + 2}"
        files, _ = B.gen_tree(root, n, p["per_dir"], p["size"], p["size"], B.SEED + 2,
                              f"scale {n}")
        trees.append((n, root, root + ".list"))
    return trees


def warm(b, tree, listf):
    """The tree resident (background reclaim may have taken some)."""
    if b.measure(["true"], listf).get("pct_exit", 0) < 100.0:
        b.measure(["sh", "-c", 'find "$1" -type f -print0 | xargs -0 cat > /dev/null',
                   "sh", tree])


def tools_for(b, tree):
    cc, vm = b.cachectl, b.have["vmtouch"]
    return [("status", "cachectl status -r (warm)",
             [cc, "status", "-r", tree] if cc else None, False),
            ("prefetch", "cachectl prefetch -r (cold)",
             [cc, "prefetch", "-r", tree] if cc else None, True),
            ("vmtouch", "vmtouch (query, warm)", ["vmtouch", tree] if vm else None, False),
            ("vmtouch_t", "vmtouch -qt (cold)", ["vmtouch", "-qt", tree] if vm else None, True)]


def one_tree(b, n, tree, listf, reps):
    B.log(f"\n  -- {n} files -- load {B.loadavg()}")
    tools = [t for t in tools_for(b, tree) if t[2]]
    res = {t[0]: [] for t in tools}
    for rep in range(reps):
        for k, l, c, cold in B.rotate(tools, rep):
            if cold:
                ok, info = b.cold(listf)
                if not ok:
                    B.warn(f"{l}: sample {rep + 1} aborted: eviction not verified ({info})")
                    res[k].append({"aborted": True, "evict": info})
                    continue
            else:
                warm(b, tree, listf)
            s = b.measure(c, listf if cold else None, timeout=600)
            s["rep"] = rep + 1
            s["maxrss_mib"] = s.get("maxrss_kb", -1) / 1024
            t = s.get("ttr", s.get("wall", -1)) if cold else s.get("wall", -1)
            s["time"] = t
            s["us_per_file"] = t * 1e6 / n if t >= 0 else -1.0
            res[k].append(s)
            st = s.get("status")
            B.log(f"    [{rep + 1}/{reps}] {l:<28} {'ttr' if cold else 'wall'}={t:.3f}s "
                  f"({s['us_per_file']:.2f} us/file) maxrss={s['maxrss_mib']:.1f} MiB "
                  f"load={s.get('load1', 0):.2f}"
                  + (f" EXIT {st}: {B.first_line(s.get('stderr', ''))}" if st else ""))
    out = {}
    for k, l, c, _ in tools:
        s = res[k]
        out[k] = {"label": l, "cmd": c, "time": B.summarize(s, "time"),
                  "us_per_file": B.summarize(s, "us_per_file"),
                  "maxrss_mib": B.summarize(s, "maxrss_mib"),
                  "samples_reaching_100pct": B.complete(s) if k in ("prefetch", "vmtouch_t")
                  else None, "samples": s}
    return out


def run(b, p, reps):
    B.log(f"\n== scale: {', '.join(str(n) for n in p['sizes'])} files of {p['size']} B, "
          f"n={reps} == load {B.loadavg()}")
    trees = make_trees(b, p)
    per = {n: one_tree(b, n, tree, listf, reps) for n, tree, listf in trees}
    small, big = p["sizes"][0], p["sizes"][-1]
    rows = []
    for n in p["sizes"]:
        for k, v in per[n].items():
            rss, us = v["maxrss_mib"], v["us_per_file"]
            rows.append([n, v["label"], B.fmt_s(v["time"]),
                         f"{us['median']:.2f}" if us else "n/a",
                         f"{rss['median']:.1f} [{rss['min']:.1f}-{rss['max']:.1f}]" if rss
                         else "n/a", v["samples_reaching_100pct"] or ""])
    B.log("")
    B.table(rows, ["files", "tool", "time s median [min-max]", "us/file", "peak RSS MiB",
                   "reached 100%"])
    out = {"sizes": p["sizes"], "file_size": p["size"], "per_tree": per,
           "ratios": {}, "acceptance": {}}
    for k in ("status", "prefetch"):
        a, z = per[small].get(k, {}), per[big].get(k, {})
        r = B.ratio(z.get("us_per_file"), a.get("us_per_file"))
        out["ratios"][f"{k} us/file {big}/{small}"] = r
        out["acceptance"][f"{k} per-file time at {big} <= 1.3x at {small}"] = \
            B.verdict(None if r is None else r <= 1.3)
        rss = z.get("maxrss_mib")
        out["acceptance"][f"{k} peak RSS at {big} < 32 MiB"] = \
            B.verdict(None if not rss else rss["max"] < 32.0)
        for vk in (("vmtouch",) if k == "status" else ("vmtouch_t",)):
            out["ratios"][f"{vk}/cachectl {k} at {big}"] = B.ratio(
                per[big].get(vk, {}).get("time"), z.get("time"))
    for k, v in out["ratios"].items():
        B.log(f"  {k} = {B.fmt_ratio(v)}")
    for k, v in out["acceptance"].items():
        B.log(f"  {k}: {v}")
    return out
