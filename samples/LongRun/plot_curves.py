#!/usr/bin/env python3
"""Learning-curve figure of docs/RESULTS.md: validation loss per epoch of every run in a LongRun results file.

    /usr/bin/python3 samples/LongRun/plot_curves.py docs/results/mlp.jsonl docs/results/mlp-curves.png [--settings TEXT]

One line per configuration and seed (Debian's python3-matplotlib); a dot marks the epoch of the lowest validation
loss, whose weights the table scores. With --settings, only runs whose settings line contains TEXT are drawn (a results
file may hold runs of several schedules).
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import MaxNLocator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="JSON lines written by samples/LongRun")
    parser.add_argument("png", help="the figure to write")
    parser.add_argument("--settings", default="", help="only runs whose settings contain this text")
    parser.add_argument("--title", default=None)
    options = parser.parse_args()

    with open(options.results, encoding="utf-8") as f:
        runs = [json.loads(line) for line in f if line.strip()]
    runs = [r for r in runs if options.settings in r["Settings"]]
    if not runs:
        raise SystemExit(f"{options.results}: no run matches --settings '{options.settings}'")

    figure, axes = plt.subplots(figsize=(7.5, 4.2), dpi=90)
    styles = ["-", "--", "-.", ":"]
    for i, run in enumerate(runs):
        losses = run["ValidationLoss"]
        epochs = range(1, len(losses) + 1)
        label = run["Name"] + (f" (seed {run['Seed']})" if len({r["Seed"] for r in runs}) > 1 else "")
        line, = axes.plot(epochs, losses, styles[(i // 10) % len(styles)], linewidth=1.4, label=label)
        best = run["BestEpoch"]
        axes.plot([best], [losses[best - 1]], "o", color=line.get_color(), markersize=4)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation loss (cross-entropy)")
    axes.set_title(options.title or f"{runs[0]['Family'].upper()} on Fashion-MNIST: validation loss per epoch", fontsize=10)
    axes.grid(color="#e5e5e5")
    axes.legend(fontsize=7.5, ncol=2, frameon=False)
    figure.tight_layout()
    figure.savefig(options.png)


if __name__ == "__main__":
    main()
