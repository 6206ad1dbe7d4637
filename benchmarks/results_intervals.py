"""The results page's table for benchmarks/intervals.py: nominal vs realised coverage and mean width of the
Gaussian head's own intervals and of the conformal ones, on the same windows (kept apart from
results_page.py, which is long enough)."""
from __future__ import annotations


def intervals(d: dict, g, table) -> str:
    """`g` and `table`: results_page's number format and Markdown table."""
    rows = []
    for dataset in ("stocks", "noisy_cosine"):
        for cell, c in d.get(dataset, {}).items():
            for split in ("val", "test"):
                s = c.get(split)
                if s is None:
                    continue
                for lv in (v for v in s.values() if isinstance(v, dict)):
                    rows.append([dataset, cell, c["task"], s["horizon"], split, s["calibration_windows"],
                                 s["scored_windows"], g(lv["nominal"], 3), g(lv["gaussian_coverage"], 3),
                                 g(lv["conformal_coverage"], 3), g(lv["gaussian_width"], 3),
                                 g(lv["conformal_width"], 3)])
    smoke = d.get("config", {}).get("epochs")
    return ("Gaussian heads alone and with split-conformal calibration (docs/intervals.md), both scored on the "
            "same windows: validation's second half (conformal calibrated on its first half) and the test month "
            "(calibrated on all of validation); widths in the series' units (dollars for stocks), mean over "
            f"the horizon's steps. noisy_cosine is cos(x) + N(0, {d['noise_sd']}^2)"
            f"{f'; every cell trained {smoke} epoch(s) only' if smoke else ''}.\n\n"
            + table(["dataset", "cell", "task", "H", "split", "calibrated on", "scored on", "nominal",
                     "Gaussian coverage", "conformal coverage", "Gaussian width", "conformal width"], rows))
