"""The soak's series as one PNG (matplotlib)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(rows, path, warmup):
    t = [r["t"] / 60 for r in rows]
    fig, ax = plt.subplots(5, 1, figsize=(10, 12), dpi=100, sharex=True)

    def series(a, keys, title, unit):
        for k in keys:
            a.plot(t, [r[k] if r[k] is not None else float("nan") for r in rows], label=k, linewidth=1)
        a.axvline(warmup / 60, color="grey", linestyle=":", linewidth=1)
        a.set_title(title, fontsize=10)
        a.set_ylabel(unit)
        a.legend(fontsize=8, loc="upper right")
        a.grid(alpha=0.3)
    series(ax[0], ["rss_mib"], "server RSS", "MiB")
    a2 = ax[0].twinx()
    a2.plot(t, [r["fds"] for r in rows], color="tab:orange", linewidth=1, label="fds")
    a2.plot(t, [r["threads"] for r in rows], color="tab:green", linewidth=1, label="threads")
    a2.set_ylabel("count")
    a2.legend(fontsize=8, loc="lower right")
    ax[0].set_ylim(bottom=0)
    a2.set_ylim(bottom=0)
    series(ax[1], ["progress_p50_ms", "progress_p99_ms"], "task.get_progress latency", "ms")
    series(ax[2], ["event_p50_ms", "event_p99_ms"], "event latency (set_progress to event.from)", "ms")
    series(ax[3], ["commit_p50_ms", "commit_p99_ms"], "store commit latency (bucket upper bounds)", "ms")
    series(ax[4], ["requests", "failed"], "requests per interval", "count")
    ax[4].set_xlabel("minutes (dotted: end of warm-up)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
