"""How hard the simulated anomalies are in raw pixels: isolation forest, top-k MCC.

    python benchmarks/iforest_raw.py

For each anomaly class: 150 normal galaxies (60 elliptical, 50 spiral, 40 edge-on) plus 10
anomalies at 64x64 px, an isolation forest on the flattened pixels, the top 10 by anomaly score
flagged, MCC against the truth; mean over 5 seeds.
"""

import numpy as np
from sklearn.ensemble import IsolationForest

from ahunt.evaluate.metrics import top_k_mcc
from ahunt.sources.galaxy_sim import ANOMALY_CLASSES, draw_objects

for anomaly in ANOMALY_CLASSES:
    mccs = []
    for seed in range(5):
        kinds = ["elliptical"] * 60 + ["spiral"] * 50 + ["edge-on"] * 40 + [anomaly] * 10
        images = draw_objects(kinds, image_size=64, seed=1000 + seed)
        x = images.reshape(len(images), -1)
        score = -IsolationForest(n_estimators=200, random_state=seed).fit(x).score_samples(x)
        mccs.append(top_k_mcc(score, np.array(kinds) == anomaly))
    print(f"{anomaly:9s} iforest-raw MCC {np.mean(mccs):+.2f} ± {np.std(mccs):.2f} (5 seeds)")
