"""The benchmark's results: medians per target, ratios replicad/Cyrus, as
Markdown, CSV and a PNG bar chart."""
import csv
import os
import statistics

from png_chart import BarChart

# (key, header, format) of the summary table, in order.
COLUMNS = (
    ("wall", "wall s", "%.2f"),
    ("rate", "messages/s", "%.0f"),
    ("replica_cpu", "replica CPU s", "%.2f"),
    ("cpu_ms_per_msg", "replica CPU ms/msg", "%.3f"),
    ("replica_hwm_mb", "replica peak RSS MB", "%.1f"),
    ("replica_anon_mb", "replica peak RssAnon MB", "%.1f"),
    ("fsyncs_per_msg", "fsyncs/msg", "%.3f"),
    ("client_cpu", "sync_client CPU s", "%.2f"),
    ("noop_wall", "no-op re-run s", "%.2f"),
    ("load", "load avg", "%.1f"),
)
RAW_FIELDS = ("target", "run", "rc", "wall", "rate", "replica_cpu", "cpu_ms_per_msg", "replica_hwm_kb",
              "replica_anon_kb", "client_cpu", "client_rss_kb", "noop_wall", "noop_rc", "load")


def derive(sample, messages):
    sample["rate"] = messages / sample["wall"] if sample["wall"] > 0 else 0.0
    sample["cpu_ms_per_msg"] = sample["replica_cpu"] * 1000.0 / messages
    return sample


def summarise(runs, fsyncs, messages):
    """runs: {target: [sample]}; fsyncs: {target: calls or None}.  Medians per target."""
    summary = {}
    for target, samples in runs.items():
        good = [s for s in samples if s["rc"] == 0] or samples
        med = {k: statistics.median(s[k] for s in good)
               for k in ("wall", "rate", "replica_cpu", "cpu_ms_per_msg", "client_cpu", "load")}
        noops = [s["noop_wall"] for s in good if s["noop_wall"] is not None]
        med["noop_wall"] = statistics.median(noops) if noops else None
        med["replica_hwm_mb"] = statistics.median(s["replica_hwm_kb"] for s in good) / 1024.0
        med["replica_anon_mb"] = statistics.median(s["replica_anon_kb"] for s in good) / 1024.0
        calls = fsyncs.get(target)
        med["fsyncs_per_msg"] = calls / messages if calls is not None else None
        med["runs"] = len(samples)
        med["failed"] = sum(1 for s in samples if s["rc"] != 0)
        summary[target] = med
    return summary


def ratios(summary):
    """(what, replicad target, Cyrus target, speed ratio, CPU-per-message ratio)."""
    pairs = (("replicad CSYNC vs Cyrus sync_server", "replicad-csync", "cyrus-csync"),
             ("replicad IMAP vs Cyrus imapd", "replicad-imap", "cyrus-imap"),
             ("replicad IMAP vs Cyrus sync_server", "replicad-imap", "cyrus-csync"),
             ("null target vs Cyrus sync_server", "null", "cyrus-csync"))
    out = []
    for what, ours, theirs in pairs:
        if ours in summary and theirs in summary:
            a, b = summary[ours], summary[theirs]
            speed = a["rate"] / b["rate"] if b["rate"] else float("nan")
            cpu = a["cpu_ms_per_msg"] / b["cpu_ms_per_msg"] if b["cpu_ms_per_msg"] else float("nan")
            out.append((what, speed, cpu))
    return out


def _cell(fmt, value):
    return "n/a" if value is None else fmt % value


def markdown(summary, labels, header_lines, loadgen_rows):
    lines = list(header_lines) + [""]
    lines.append("| target | " + " | ".join(h for _, h, _ in COLUMNS) + " |")
    lines.append("|---|" + "---:|" * len(COLUMNS))
    for target, med in summary.items():
        note = " (%d of %d runs failed)" % (med["failed"], med["runs"]) if med["failed"] else ""
        lines.append("| %s%s | " % (labels[target], note) +
                     " | ".join(_cell(f, med[k]) for k, _, f in COLUMNS) + " |")
    rs = ratios(summary)
    if rs:
        lines += ["", "| ratio | messages/s | replica CPU per message |", "|---|---:|---:|"]
        for what, speed, cpu in rs:
            lines.append("| %s | %.2fx | %.2fx |" % (what, speed, cpu))
    if loadgen_rows:
        lines += ["", "loadgen (replicad's own ceiling, CSYNC, durable):", "",
                  "| scenario | messages | msgs/s | cmd p50 ms | cmd p99 ms | NOOP n | NOOP p99 ms | NOOP max ms "
                  "| replica CPU us/msg | peak RssAnon MB | VmHWM MB | fsyncs/msg | jobs/commit |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in loadgen_rows:
            r = row["result"]
            n = max(r.get("messages", 0), 1)
            commits, jobs = row.get("commits"), row.get("jobs")
            lines.append("| %s | %d | %.0f | %.2f | %.2f | %d | %.2f | %.2f | %.0f | %.1f | %.1f | %s | %s |" % (
                row["name"], r.get("messages", 0), r.get("messages_per_s", 0), r.get("cmd_p50_ms", 0),
                r.get("cmd_p99_ms", 0), r.get("noop_n", 0), r.get("noop_p99_ms", 0), r.get("noop_max_ms", 0),
                r.get("replica_cpu_s", 0) * 1e6 / n, r.get("replica_peak_rssanon_kb", 0) / 1024.0,
                r.get("replica_vmhwm_kb", 0) / 1024.0,
                "%.4f" % (commits / n) if commits is not None else "n/a",
                "%.1f" % (jobs / commits) if commits and jobs is not None else "n/a"))
    return "\n".join(lines) + "\n"


def write_csv(path, runs):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RAW_FIELDS, extrasaction="ignore")
        w.writeheader()
        for target, samples in runs.items():
            for i, s in enumerate(samples, 1):
                w.writerow(dict(s, target=target, run=i))


def write_summary_csv(path, summary, labels):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["target"] + [h for _, h, _ in COLUMNS])
        for target, med in summary.items():
            w.writerow([labels[target]] + ["" if med[k] is None else "%.6g" % med[k] for k, _, _ in COLUMNS])


def chart(path, summary, labels, title, footnote):
    c = BarChart(width=1000, title=title, footnote=footnote)
    c.panel("MESSAGES/S, FULL SYNC (HIGHER IS BETTER)", [(labels[t], m["rate"]) for t, m in summary.items()])
    c.panel("REPLICA CPU MS PER MESSAGE (LOWER IS BETTER)",
            [(labels[t], m["cpu_ms_per_msg"]) for t, m in summary.items()])
    # RssAnon, not VmHWM: replicad's resident set also counts the pages of
    # LMDB's file mapping it has read, which the kernel can drop at will.
    c.panel("REPLICA PEAK RSSANON MB (LOWER IS BETTER)",
            [(labels[t], m["replica_anon_mb"]) for t, m in summary.items()])
    c.panel("SYNC_CLIENT CPU S", [(labels[t], m["client_cpu"]) for t, m in summary.items()])
    c.save(path)


def write_all(results_dir, runs, fsyncs, messages, labels, header_lines, loadgen_rows, title, footnote):
    os.makedirs(results_dir, exist_ok=True)
    summary = summarise(runs, fsyncs, messages)
    md = markdown(summary, labels, header_lines, loadgen_rows)
    with open(os.path.join(results_dir, "results.md"), "w") as f:
        f.write(md)
    write_csv(os.path.join(results_dir, "runs.csv"), runs)
    write_summary_csv(os.path.join(results_dir, "summary.csv"), summary, labels)
    if summary:
        chart(os.path.join(results_dir, "chart.png"), summary, labels, title, footnote)
    return md
