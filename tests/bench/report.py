"""Turns the driver's results.json into RESULTS.md and bench.png.

    python3 report.py [DIR]     re-render DIR/results.json (default: here)

Numbers per (corpus, scenario, network, tool): median wall and CPU time over
the runs, the highest peak RSS of any run, median bytes each way on the
wire.  Ratios compare medians of the same run of the bench.
"""

import json
import os
import statistics
import sys

SCENARIOS = {
    1: "initial pull", 2: "no-op resync", 3: "1% flags changed on server",
    4: "1% flags changed locally", 5: "moved on server",
    6: "moved locally", 7: "initial push", 8: "POP3 ingestion",
    9: "adoption of an existing copy"}
PEERS = ("mbsync", "offlineimap", "mpop")
# The delivery-only rows (delivery.py): scenario 0, no network.
DELIVERY = ("delivery: facteur store", "delivery: bare loop")
DELIVERY_NET = "local"
# One colour per tool in every panel of the chart.
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
          "#e377c2")


def summarize(runs):
    """{(corpus, scenario, net, tool): summary dict}."""
    groups = {}
    for r in runs:
        groups.setdefault((r["corpus"], r["scenario"], r["net"], r["tool"]),
                          []).append(r)
    out = {}
    for k, rs in groups.items():
        ok = [r for r in rs if r["rc"] == 0]
        use = ok or rs
        s = {"n": len(rs), "failed": len(rs) - len(ok),
             "wall": statistics.median(r["wall"] for r in use),
             "cpu": statistics.median(r["cpu"] for r in use),
             "rss_mb": max(r["rss_kb"] for r in use) / 1024.0,
             "in": statistics.median(r["in"] for r in use),
             "out": statistics.median(r["out"] for r in use),
             "complete": all(r.get("complete", True) for r in rs),
             "errors": sorted({r["error"] for r in rs if "error" in r})}
        for extra in ("moved", "moved_bytes", "changed", "messages",
                      "expect"):
            vals = [r[extra] for r in rs if extra in r]
            if vals:
                s[extra] = statistics.median(vals)
        out[k] = s
    return out


def human(n):
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return ("%.0f %s" if unit == "B" else "%.1f %s") % (n, unit)
        n /= 1024.0


def ratio(a, b):
    if not a or not b:
        return "-"
    return "%.2f×" % (a / b)


def table(summ, corpus, net, scenarios):
    lines = ["| # | scenario | tool | wall s | vs facteur | CPU s | peak RSS MB "
             "| wire in | wire out | notes |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for s in scenarios:
        keys = sorted((k for k in summ if k[0] == corpus and k[1] == s
                       and k[2] == net),
                      key=lambda k: (k[3] != "facteur",
                                     k[3].startswith("floor"), k[3]))
        fac = summ.get((corpus, s, net, "facteur"))
        for k in keys:
            v = summ[k]
            notes = []
            if v["failed"]:
                notes.append("%d/%d runs failed: %s" % (
                    v["failed"], v["n"], "; ".join(v["errors"])[:160]))
            if not v["complete"] and "messages" in v:
                notes.append("%d messages at the end, not %d" % (
                    v["messages"], v["expect"]))
            if "moved" in v:
                notes.append("%d moved (%s)" % (v["moved"],
                                                human(v["moved_bytes"])))
            if "changed" in v:
                notes.append("%d changed" % v["changed"])
            vs = "" if k[3] == "facteur" else ratio(v["wall"],
                                                     fac and fac["wall"])
            lines.append("| %d | %s | %s | %.2f | %s | %.2f | %.1f | %s | %s | %s |"
                         % (s, SCENARIOS[s], k[3], v["wall"], vs, v["cpu"],
                            v["rss_mb"], human(v["in"]), human(v["out"]),
                            "; ".join(notes)))
    return "\n".join(lines)


def targets(summ, net="direct", facts=None):
    g = lambda s, t: summ.get(("main", s, net, t))  # noqa: E731
    out = []

    def line(what, value, ok):
        out.append("| %s | %s | %s |" % (what, value,
                                          "n/a" if ok is None else
                                          ("met" if ok else "**missed**")))
    f1, m1 = g(1, "facteur"), g(1, "mbsync")
    fetch, write = g(1, "floor: raw FETCH"), g(1, "floor: durable write")
    if f1 and fetch and write:
        fl = max(fetch["wall"], write["wall"])
        line("1: facteur within 1.5× of max(floors)",
             "%.2f s / %.2f s = %.2f×" % (f1["wall"], fl, f1["wall"] / fl),
             f1["wall"] <= 1.5 * fl)
    fd, bd = (summ.get(("main", 0, DELIVERY_NET, t)) for t in DELIVERY)
    if fd and bd:
        line("issue 4: delivery ≤ 1.3× bare loop",
             "%.2f s / %.2f s = %.2f× (%d messages; store and journal only, "
             "no network)" % (fd["wall"], bd["wall"], fd["wall"] / bd["wall"],
                              (facts or {}).get("delivery", {})
                              .get("messages", 0)),
             fd["wall"] <= 1.3 * bd["wall"])
    if f1 and m1:
        line("1: ≥ 5× faster than mbsync", ratio(m1["wall"], f1["wall"]),
             m1["wall"] >= 5 * f1["wall"])
    f2, m2 = g(2, "facteur"), g(2, "mbsync")
    if f2 and m2:
        line("2: ≥ 3× faster than mbsync", ratio(m2["wall"], f2["wall"]),
             m2["wall"] >= 3 * f2["wall"])
    if f2:
        w = f2["in"] + f2["out"]
        line("2: under 5 KB on the wire", human(w), w < 5 * 1024)
    for s in (5, 6):
        f = g(s, "facteur")
        if f and f.get("moved_bytes"):
            w = f["in"] + f["out"]
            # A run's fixed cost (TLS, login, STATUS of every folder) is
            # the no-op's bytes; what the moves themselves cost is above it.
            above = max(0, w - (f2["in"] + f2["out"])) if f2 else w
            line("%d: under 1%% of the moved bytes" % s,
                 "%s for %s moved (%.1f%%; %.2f%% above the no-op's %s)"
                 % (human(w), human(f["moved_bytes"]),
                    100.0 * w / f["moved_bytes"],
                    100.0 * above / f["moved_bytes"],
                    human(w - above)),
                 w < 0.01 * f["moved_bytes"])
    worse, compared = [], 0
    for k, v in summ.items():
        if k[3] != "facteur":
            continue
        m = summ.get((k[0], k[1], k[2], "mbsync"))
        compared += m is not None
        if m and v["rss_mb"] > m["rss_mb"]:
            worse.append("%s/%d/%s %.1f > %.1f MB" % (k[0], k[1], k[2],
                                                     v["rss_mb"], m["rss_mb"]))
    # Without both tools in a scenario there is nothing to claim.
    if compared:
        line("peak RSS ≤ mbsync's in every scenario",
             "; ".join(sorted(worse)) or
             "all %d comparisons" % compared, not worse)
    f8, p8 = g(8, "facteur"), g(8, "mpop")
    if f8 and p8:
        line("8: ≥ 2× faster than mpop", ratio(p8["wall"], f8["wall"]),
             p8["wall"] >= 2 * f8["wall"])
    r8 = g(8, "floor: raw RETR")
    if f8 and r8:
        # No target: it says how much of scenario 8 is the server's.
        line("8: facteur / raw RETR floor",
             "%.2f s / %.2f s = %.2f×" % (f8["wall"], r8["wall"],
                                          f8["wall"] / r8["wall"]), None)
    return "\n".join(["| target | measured | |", "|---|---|---|"] + out)


def delivery_section(summ, facts, runs):
    d = facts.get("delivery")
    fd, bd = (summ.get(("main", 0, DELIVERY_NET, t)) for t in DELIVERY)
    if not d or not fd or not bd:
        return []
    when = ("  Measured separately (%s, `delivery.py --merge`), not in the "
            "run above." % d["when"]) if d.get("separate") else ""
    lines = ["## Delivery only (issue 4)", "",
             "%d messages, %s, from the benchmark corpus's files in page "
             "cache, delivered by tests/bench/deliver_bench.c in batches of "
             "256 messages or 64 MiB.  `facteur store`: what a download "
             "batch of sync/exec.c does without the network (tmp file "
             "streamed in 64 KiB writes, writeback started for files of "
             "16 KiB or more, mtime set, journal intent committed, syncfs, "
             "renames, directory fsyncs, journal commit).  `bare loop`: "
             "open, the same writes, the same early writeback, close; per "
             "batch syncfs, rename, directory fsyncs.  Median of %d interleaved "
             "runs, each a fresh tree.%s"
             % (d["messages"], human(d["bytes"]), d.get("runs", 0), when), "",
             "| tool | wall s | vs bare loop | CPU s | journal s | "
             "syncfs+rename s | peak RSS MB | notes |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for t in DELIVERY:
        v = summ[("main", 0, DELIVERY_NET, t)]
        mine = [r for r in runs if r.get("scenario") == 0 and r["tool"] == t
                and r["rc"] == 0 and "commit" in r]
        jr = "%.2f" % statistics.median(r["intent"] + r["confirm"]
                                        for r in mine) if mine else "-"
        cm = "%.2f" % statistics.median(r["commit"] for r in mine) \
            if mine else "-"
        note = ("%d/%d runs failed: %s" % (v["failed"], v["n"],
                                           "; ".join(v["errors"])[:160])
                if v["failed"] else "")
        lines.append("| %s | %.2f | %s | %.2f | %s | %s | %.1f | %s |" % (
            t, v["wall"], ratio(v["wall"], bd["wall"]), v["cpu"], jr, cm,
            v["rss_mb"], note))
    return lines + ["", "`journal s`: the two journal commits of every "
                    "batch; `syncfs+rename s`: md_batch_commit, or the "
                    "loop's syncfs, renames and directory fsyncs; the rest "
                    "of the wall time is writing the files.  Medians.  On "
                    "a machine shared with other work single runs vary by "
                    "up to 2×: only the medians of several runs say "
                    "something.", ""]


def markdown(doc):
    summ = summarize(doc["runs"])
    p, m, facts = doc["params"], doc["machine"], doc["facts"]
    c = facts["corpus"]
    md = ["# facteur benchmark results", "",
          "Written by `make bench` (tests/bench/); do not edit by hand.", "",
          "- When: %s; the whole bench took %.0f s%s." % (
              doc["when"], doc["elapsed_s"],
              " (BENCH_QUICK=1)" if p["quick"] else ""),
          "- Machine: %s, %d cores, %s, Linux %s; tools, Dovecot and the "
          "relays share it." % (m["cpu"], m["cores"], m["memory"],
                                m["kernel"]),
          "- Peers: %s; %s; %s.  Server: Dovecot %s (private, loopback, TLS)."
          % (m["versions"]["mbsync"], "OfflineIMAP " +
             m["versions"]["offlineimap"], m["versions"]["mpop"],
             m["versions"]["dovecot"]),
          "- Main corpus: %d messages, %s, in 4 folders (scenarios 1-9); "
          "push set (7): %d messages, %s; POP3 (8): %d messages; moves "
          "(5, 6): %d per run." % (
              c["messages"], human(c["bytes"]), facts["push"]["messages"],
              human(facts["push"]["bytes"]), facts["pop"]["messages"],
              p["moves"]),
          ]
    if "meta" in facts:
        md.append("- Metadata-heavy corpus: %d small messages, %s, over %d "
                  "folders (scenarios 1-6, direct)." % (
                      facts["meta"]["messages"], human(facts["meta"]["bytes"]),
                      facts["meta"]["folders"]))
    else:
        md.append("- Metadata-heavy corpus: not run at this size "
                  "(`--meta N` / full run).")
    md += ["- Each figure: median of %d runs (fresh process each), interleaved "
           "tool by tool; peak RSS is the highest of the runs; bytes are "
           "counted by the relay, TLS included.  \"vs facteur\" is the "
           "tool's wall time over facteur's (above 1: facteur is faster)."
           % p["runs"], ""]
    for name, why in sorted(doc.get("missing", {}).items()):
        md.append("- **%s not run**: %s" % (name, why))
    for why in facts.get("failures", []):
        md.append("- **bench step failed**: %s" % why)
    md += ["## Targets (main corpus, direct)", "", targets(summ, facts=facts), ""]
    md += delivery_section(summ, facts, doc["runs"])
    md += ["## Main corpus, direct (counting relay only)", ""]
    adopted = sorted(k[3] for k in summ if k[:3] == ("main", 9, "direct"))
    if adopted:
        md += ["Scenario 9 ran with: %s." % ", ".join(adopted), ""]
    md += [table(summ, "main", "direct", range(1, 10)), ""]
    if p["delay"]:
        md += ["## Main corpus, through the delay relay (%.0f ms each way)"
               % doc["delay_ms_each_way"], "",
               "Tools run here: %s." % ", ".join(sorted(
                   {k[3] for k in summ if k[0] == "main" and k[2] == "delay"
                    and not k[3].startswith("floor")})),
               "",
               table(summ, "main", "delay", range(1, 8)), ""]
    if "meta" in facts:
        md += ["## Metadata-heavy corpus, direct", "",
               table(summ, "meta", "direct", range(1, 7)), ""]
    md += ["Notes on the peers: OfflineIMAP 8.0.0 (Debian's offlineimap3) "
           "crashes in its upload thread and then hangs when a header holds "
           "raw UTF-8 (`AttributeError: 'memoryview' object has no "
           "attribute 'decode'` in imaputil.utf7m_decode), and stops with "
           "\"getfolder() asked for a nonexisting folder 'Lists'\" when "
           "the parent of a nested folder is not itself a mailbox: the "
           "corpus keeps headers ASCII and makes such parents (empty) "
           "mailboxes for every tool.  Through the delay relay it fetches "
           "one message per round trip and needs minutes, so quick runs "
           "leave it out there.  mbsync and OfflineIMAP have no adoption: "
           "in scenario 9 they upload and download everything and end with "
           "each message twice.  Local moves (6) rename the file into the "
           "other folder without the tools' UID tags (`,U=`, `,FMD5=`), as "
           "mbsync's manual asks; each tool's first files are moved, so the "
           "moved bytes differ a little between tools.", ""]
    if doc.get("tool_env_unset"):
        md += ["Every tool ran without %s from the driver's environment: "
               "they are seldom set on a user's machine, and with "
               "SSL_CERT_FILE set facteur loads that whole CA bundle, as "
               "asked, instead of OpenSSL's hashed directory (about 25 ms a "
               "run).  mbsync loads OpenSSL's default bundle file either "
               "way." % " and ".join(doc["tool_env_unset"]), ""]
    md += ["The floors: `floor: raw FETCH` is one pipelined "
           "`UID FETCH 1:* BODY.PEEK[]` per folder over the same TLS relay, "
           "output discarded; `floor: durable write` writes the same files "
           "(write, fsync per batch of 100 messages or 16 MiB, rename, "
           "directory fsync), in Python; `floor: raw RETR` (scenario 8) "
           "is one POP3S session through the same relay sending `RETR 1` "
           "to `RETR n` 256 at a time, output discarded.", ""]
    return "\n".join(md)


def chart(doc, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    summ = summarize(doc["runs"])
    nets = ["direct"] + (["delay"] if doc["params"]["delay"] else [])
    fig, axes = plt.subplots(len(nets), 1, figsize=(11, 4.2 * len(nets)),
                             squeeze=False)
    names = ["facteur", "mbsync", "offlineimap", "mpop", "floor: raw FETCH",
             "floor: durable write", "floor: raw RETR"]
    for ax, net in zip(axes[:, 0], nets):
        scen = sorted({k[1] for k in summ if k[0] == "main" and k[2] == net})
        present = [n for n in names if any(k[3] == n and k[2] == net
                                           for k in summ)]
        width = 0.8 / max(1, len(present))
        for i, n in enumerate(present):
            xs, ys = [], []
            for j, s in enumerate(scen):
                v = summ.get(("main", s, net, n))
                if v:
                    xs.append(j + i * width)
                    ys.append(max(v["wall"], 1e-3))
            ax.bar(xs, ys, width, label=n, color=COLORS[names.index(n)])
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(scen))])
        ax.set_xticklabels(["%d %s" % (s, SCENARIOS[s]) for s in scen],
                           rotation=20, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("wall time, s (median, log)")
        ax.set_title("main corpus, %s (%d messages)" % (
            net if net == "direct" else "25 ms each way",
            doc["facts"]["corpus"]["messages"]))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write(doc, out, redraw=True):
    """redraw=False keeps the chart as it is (the runs it shows did not
    change)."""
    text = markdown(doc)
    png = os.path.join(out, "bench.png")
    if chart(doc, png) if redraw else os.path.exists(png):
        text += "\n![wall times](bench.png)\n"
    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    with open(os.path.join(d, "results.json")) as f:
        write(json.load(f), d)
