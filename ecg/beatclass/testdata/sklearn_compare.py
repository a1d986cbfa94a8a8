#!/usr/bin/env python3
"""Development-time check: scikit-learn's HistGradientBoostingClassifier on
Vigil's beat features, same protocol as `vigil model cv --folds 11
--early-stop 0 --rounds 40` (records sorted by name, fold = index % 11, fixed
40 rounds, 8-leaf trees with >= 200 beats per leaf, L2 1, learning rate 0.1,
class weights sqrt(n_N / n_k) on the training folds, Q beats not trained on).
Not a dependency of Vigil.

    vigil model features --data DIR > features.csv
    python3 sklearn_compare.py features.csv
"""
import sys, time
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

CLASSES = "NSVFQ"

def load(path):
    rec, y, X = [], [], []
    with open(path) as f:
        next(f)
        for line in f:
            p = line.rstrip("\n").split(",")
            rec.append(p[0]); y.append(p[2]); X.append([float(v) for v in p[3:]])
    return np.array(rec), np.array(y), np.array(X, dtype=np.float32)

def model():
    return HistGradientBoostingClassifier(learning_rate=0.1, max_iter=40, max_leaf_nodes=8,
        max_depth=6, min_samples_leaf=200, l2_regularization=1.0, max_bins=255,
        early_stopping=False, random_state=1)

def weights(y):
    n = {c: max((y == c).sum(), 1) for c in "NSVF"}
    return np.array([np.sqrt(n["N"] / n[c]) for c in y])

def main():
    rec, y, X = load(sys.argv[1])
    names = sorted(set(rec))
    fold = {r: i % 11 for i, r in enumerate(names)}
    f = np.array([fold[r] for r in rec])
    cm = np.zeros((5, 5), dtype=int)
    t0 = time.time()
    for k in range(11):
        tr = (f != k) & (y != "Q")
        te = f == k
        m = model().fit(X[tr], y[tr], sample_weight=weights(y[tr]))
        for a, b in zip(y[te], m.predict(X[te])):
            cm[CLASSES.index(a), CLASSES.index(b)] += 1
    cv_time = time.time() - t0
    print("11-fold grouped CV, scikit-learn HistGradientBoostingClassifier")
    print("ref\\pred " + "".join("%8s" % c for c in CLASSES) + "    Se%    +P%")
    for i, c in enumerate(CLASSES):
        se = 100 * cm[i, i] / max(cm[i].sum(), 1)
        pp = 100 * cm[i, i] / max(cm[:, i].sum(), 1)
        print("%-9s" % c + "".join("%8d" % v for v in cm[i]) + "  %5.1f  %5.1f" % (se, pp))
    print("accuracy %.2f %% over %d beats; CV time %.1f s" % (100 * np.trace(cm) / cm.sum(), cm.sum(), cv_time))
    tr = y != "Q"
    t0, c0 = time.time(), time.process_time()
    model().fit(X[tr], y[tr], sample_weight=weights(y[tr]))
    print("one fit on all DS1 (%d beats, 40 rounds): %.2f s wall, %.2f s CPU" % (tr.sum(), time.time() - t0, time.process_time() - c0))

if __name__ == "__main__":
    main()
