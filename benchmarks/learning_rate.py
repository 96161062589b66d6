"""Why ahunt's training defaults differ from the paper's: prints merger MCC and finds for both.

    python benchmarks/learning_rate.py

Runs the reduced simulated hunt of tests/test_quality.py (32 px, 8 nights, anomaly strategy)
with the paper's training (Adam lr 1e-5, 3 epochs every round) and with ahunt's defaults
(Adam lr 1e-3, 4 epochs at round 0 here, 6 a night).
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_quality import reduced  # noqa: E402

from ahunt.evaluate.demo import run_demo, summarise_hunt  # noqa: E402

SETTINGS = {
    "paper: lr 1e-5, 3 epochs": dict(learning_rate=1e-5, epochs_initial=3, epochs=3),
    "ahunt: lr 1e-3, 4 + 6 epochs": dict(learning_rate=1e-3, epochs_initial=4, epochs=6),
}

for name, train in SETTINGS.items():
    config = reduced("anomaly")
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        reports = run_demo(config, Path(tmp) / "out", cache_dir=Path(tmp) / "cache")
    merger = next(row for row in summarise_hunt(reports, last=3) if row["class"] == "merger")
    print(f"{name:30s} merger MCC final {merger['final_mcc']:.2f}, mean of last 3 nights "
          f"{merger['mean_mcc_last_3']:.2f}, mergers found {merger['found']} of {merger['in_survey']} "
          f"({time.perf_counter() - start:.0f} s)")
