"""Plots for evaluation results (matplotlib, Agg backend: files only, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from openlfr.errors import import_backend

__all__ = ["verification_plot", "det_plot", "bias_plot"]

F64 = npt.NDArray[np.float64]

#: Zero rates are drawn at this floor on log axes (and the axis label says so).
FLOOR = 1e-5


def _floor(x: F64) -> F64:
    return np.maximum(np.asarray(x, dtype=np.float64), FLOOR)


def _plt() -> Any:
    import_backend("matplotlib", "the evaluation plots", "pip install matplotlib").use("Agg")
    return import_backend("matplotlib.pyplot", "the evaluation plots", "pip install matplotlib")


def verification_plot(path: Path, far: F64, frr: F64, scores: F64, same: F64,
                      title: str) -> None:
    """DET (false reject vs false accept rate, log axes) and the two score distributions."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax1.plot(_floor(far), _floor(frr), lw=1.5)
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel(f"false accept rate (mismatched pairs accepted; 0 drawn at {FLOOR:g})")
    ax1.set_ylabel(f"false reject rate (matched pairs rejected; 0 drawn at {FLOOR:g})")
    ax1.set_title("DET (ROC on log axes)")
    ax1.grid(True, which="both", alpha=0.3)
    bins = np.linspace(min(scores.min(), 0), 1, 80)
    ax2.hist(scores[same > 0], bins=bins, alpha=0.6, label="matched pairs")
    ax2.hist(scores[same == 0], bins=bins, alpha=0.6, label="mismatched pairs")
    ax2.set_xlabel("cosine similarity")
    ax2.set_ylabel("pairs")
    ax2.legend()
    ax2.set_title("score distributions")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def det_plot(path: Path, fpir: F64, fnir: F64, points: Sequence[dict[str, Any]],
             title: str) -> None:
    """DET curve: FNIR vs FPIR, both log axes, with the operating points marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.plot(_floor(fpir), _floor(fnir), lw=1.5)
    for p in points:
        fp, fn = p["fpir"]["rate"], p["fnir"]["rate"]
        if fp is not None and fn is not None:
            ax.plot([max(fp, FLOOR)], [max(fn, FLOOR)], "o")
            ax.annotate(f"t={p['threshold']:.3f}\nFPIR {fp:.4f}, FNIR {fn:.4f}",
                        (max(fp, FLOOR), max(fn, FLOOR)),
                        textcoords="offset points", xytext=(6, 6), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"FPIR (non-mated searches alerting; 0 drawn at {FLOOR:g})")
    ax.set_ylabel(f"FNIR (mated searches missed; 0 drawn at {FLOOR:g})")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bias_plot(path: Path, groups: dict[str, dict[str, dict[str, Any]]], title: str) -> None:
    """FNIR and FPIR per group with their 95% intervals."""
    plt = _plt()
    names = list(groups)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("fnir", "fpir"), strict=True):
        rates = [groups[g][key]["rate"] or 0.0 for g in names]
        lo = [r - groups[g][key]["ci95"][0] for r, g in zip(rates, names, strict=True)]
        hi = [groups[g][key]["ci95"][1] - r for r, g in zip(rates, names, strict=True)]
        ax.errorbar(range(len(names)), rates, yerr=[lo, hi], fmt="o", capsize=4)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([f"{g}\n(n={groups[g][key]['of']})" for g in names], fontsize=7)
        ax.set_ylabel(key.upper())
        ax.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
