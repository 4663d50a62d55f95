# SPDX-License-Identifier: LGPL-2.1-or-later
"""The floor and the baseline: the two yardsticks measured in the same run.

The floor is what the machine allows: floor-loop.c and floor-uring.c do
the fewest syscalls per file over a list written before the clock starts,
so no walk, no output, no checks. Each variant runs round-robin with the
other tools, and the scenario reports cachectl as % of the best variant
(floor time / cachectl time * 100). A variant counts only if it did its
job in every sample: a prefetch floor must have brought every page in
(measure.c's residency check), a query floor must have seen the pages
the kernel holds (check_query). One that did not is a defect of the
bench and is reported, never taken as the floor.

The baseline is another build's cachectl (--baseline DIR), run as one
more contender; the scenario reports new/old (time of this build over
time of that one: below 1 is faster).
"""

import bench as B

# a regression is a median more than this much slower than the baseline's
REGRESSION = 1.05


# key, label, program, mode, threads or files in flight
PREFETCH = [("floor_willneed_t1", "floor: WILLNEED loop, 1 thread", "floor-loop", "willneed", 1),
            ("floor_willneed_t2", "floor: WILLNEED loop, 2 threads", "floor-loop", "willneed", 2),
            ("floor_readahead", "floor: readahead(2) loop", "floor-loop", "readahead", 1),
            ("floor_uring64", "floor: uring WILLNEED, 64 files", "floor-uring", "willneed", 64),
            ("floor_uring128", "floor: uring WILLNEED, 128 files", "floor-uring", "willneed", 128)]
QUERY = [("floor_cachestat_t1", "floor: cachestat loop, 1 thread", "floor-loop", "cachestat", 1),
         ("floor_cachestat_t2", "floor: cachestat loop, 2 threads", "floor-loop", "cachestat", 2)]
# over a network mount every open, advice and close is a round trip: only a
# ring that keeps many files in flight is a floor there
NET_PREFETCH = [v for v in PREFETCH if v[2] == "floor-uring"] + [
    ("floor_uring_read64", "floor: uring read, 64 files", "floor-uring", "read", 64),
    ("floor_uring_read128", "floor: uring read, 128 files", "floor-uring", "read", 128)]
NET_QUERY = [("floor_uring_cs64", "floor: uring cachestat, 64 files", "floor-uring", "cachestat", 64),
             ("floor_uring_cs128", "floor: uring cachestat, 128 files", "floor-uring", "cachestat", 128)]


def variants(b, specs, listf):
    """The tools (key, label, command) of a scenario's floor variants."""
    return [(k, label, [b.h[prog], "-m", mode, "-t" if prog == "floor-loop" else "-d", str(n), listf])
            for k, label, prog, mode, n in specs]


def baseline(b, label, args):
    """The baseline contender, or nothing when there is none."""
    return [("baseline", "baseline: " + label, [b.baseline] + args)] if b.baseline else []


def check_query(b, tools, listf):
    """Runs each query floor once, untimed, and keeps those whose sum of
    cachestat nr_cache matches the kernel's count of the same files
    (mincore, right after): a floor that queried nothing would be fast."""
    kept = []
    for k, label, cmd in tools:
        s = b.measure(cmd, listf, quiet=False, timeout=0)
        got = dict(t.split("=", 1) for t in s.get("out", "").split() if "=" in t)
        want = s.get("pages_exit", -1)
        try:
            pages = int(got.get("pages", -1))
        except ValueError:
            pages = -1
        # a page or two may go to background reclaim in between
        if s.get("status") == 0 and want >= 0 and abs(pages - want) <= max(2, want / 100):
            kept.append((k, label, cmd))
            continue
        B.warn(f"{label}: saw {pages} cached pages where the kernel holds {want:.0f} "
               f"(exit {s.get('status')}): not a floor, left out")
    return kept


def _valid(samples, cold):
    ok = [s for s in samples if not s.get("aborted")]
    if not ok or any(s.get("failed") or s.get("status") for s in ok):
        return False
    return not cold or all(s.get("ttr", -1) >= 0 for s in ok)


def figures(out, key, cold):
    """Adds the floor and baseline figures to a scenario's result: out has
    'tools' {key: {label, key: stat, samples}} and 'ratios'."""
    tools = out["tools"]
    mine = tools.get("cachectl", {}).get(key)
    best = None
    for k, v in tools.items():
        if not k.startswith("floor_"):
            continue
        v["floor_valid"] = bool(v.get(key)) and _valid(v.get("samples", []), cold)
        if not v["floor_valid"]:
            B.log(f"  DEFECT: {v['label']}: "
                  + ("failed, or left pages out, in a sample" if cold else "failed in a sample")
                  + ": not counted as the floor")
            continue
        if best is None or v[key]["median"] < tools[best][key]["median"]:
            best = k
    ratios = out.setdefault("ratios", {})
    acc = out.setdefault("acceptance", {})
    if best:
        out["floor"] = {"best": tools[best]["label"], key: tools[best][key]}
        ratios["cachectl % of floor"] = (tools[best][key]["median"] / mine["median"] * 100
                                         if mine else None)
        B.log(f"  best floor: {tools[best]['label']}, {B.fmt_s(tools[best][key])}; cachectl = "
              + ("n/a" if not mine else f"{ratios['cachectl % of floor']:.0f}%") + " of it")
    old = tools.get("baseline", {}).get(key)
    if "baseline" in tools:
        r = B.ratio(mine, old)
        ratios["new/old"] = r
        name = f"no regression vs baseline (new/old <= {REGRESSION})"
        acc[name] = B.verdict(None if r is None else r <= REGRESSION)
        B.log(f"  new/old = {B.fmt_ratio(r)} (cachectl {B.fmt_s(mine)} vs baseline "
              f"{B.fmt_s(old)}): {acc[name]}")
    return out


def floor_ratio(out, key, floor):
    """cachectl time / the named floor variant's (an acceptance names
    one), or None when either is missing."""
    v = out["tools"].get(floor, {})
    if not v.get("floor_valid"):
        return None
    return B.ratio(out["tools"].get("cachectl", {}).get(key), v.get(key))
