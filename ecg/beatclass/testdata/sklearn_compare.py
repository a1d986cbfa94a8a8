#!/usr/bin/env python3
"""Development-time check: scikit-learn's HistGradientBoostingClassifier on
Vigil's beat features, same protocol as `vigil model cv --folds 11
--early-stop 0 --rounds 40` (records sorted by name, fold = index % 11, fixed
40 rounds, 8-leaf trees with >= 200 beats per leaf, L2 1, learning rate 0.1,
class weights sqrt(n_N / n_k) on the training folds, Q beats not trained on).
The matrix is printed twice: the learner's raw predictions, and after the
rules Vigil's Label applies to any model's output (a beat with a flat or
missing QRS or noise above twice its amplitude is Q; in rhythm.go, a beat
called S while the long RR irregularity exceeds 0.1 is N, the AF rule, and
a beat called N with a normal QRS that is early, or mildly premature with
an unusual P wave, in a regular rhythm is S, the prematurity rule), which is what `vigil model cv` prints. Not a
dependency of Vigil.

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
        names = next(f).rstrip("\n").split(",")[3:]
        for line in f:
            p = line.rstrip("\n").split(",")
            rec.append(p[0]); y.append(p[2]); X.append([float(v) for v in p[3:]])
    return names, np.array(rec), np.array(y), np.array(X, dtype=np.float32)

def vigil_rules(names, X, pred):
    """Vigil's rules around the model (classifier.go unclassifiable, rhythm.go notInAF, premature)."""
    pp, noise = X[:, names.index("qrs_pp")], X[:, names.index("noise")]
    irr = X[:, names.index("rr_irregularity_long")]
    early, cq = X[:, names.index("rr_pre/nn_early")], X[:, names.index("corr_qrs")]
    nn, cp = X[:, names.index("rr_pre/nn")], X[:, names.index("corr_p")]
    out = pred.copy()
    out[(out == "S") & (irr > 0.1)] = "N"
    early = (early < 0.8) | ((nn < 0.9) & (cp < 0.3))
    out[(out == "N") & early & (cq >= 0.9) & ~(irr > 0.1)] = "S"
    out[np.isnan(pp) | (pp < 0.03) | (noise > 2)] = "Q"
    return out

def report(title, cm):
    print(title)
    print("ref\\pred " + "".join("%8s" % c for c in CLASSES) + "    Se%    +P%")
    for i, c in enumerate(CLASSES):
        se = 100 * cm[i, i] / max(cm[i].sum(), 1)
        pp = 100 * cm[i, i] / max(cm[:, i].sum(), 1)
        print("%-9s" % c + "".join("%8d" % v for v in cm[i]) + "  %5.1f  %5.1f" % (se, pp))
    print("accuracy %.2f %% over %d beats" % (100 * np.trace(cm) / cm.sum(), cm.sum()))

def model():
    return HistGradientBoostingClassifier(learning_rate=0.1, max_iter=40, max_leaf_nodes=8,
        max_depth=6, min_samples_leaf=200, l2_regularization=1.0, max_bins=255,
        early_stopping=False, random_state=1)

def weights(y):
    n = {c: max((y == c).sum(), 1) for c in "NSVF"}
    return np.array([np.sqrt(n["N"] / n[c]) for c in y])

def main():
    names, rec, y, X = load(sys.argv[1])
    recs = sorted(set(rec))
    fold = {r: i % 11 for i, r in enumerate(recs)}
    f = np.array([fold[r] for r in rec])
    raw = np.zeros((5, 5), dtype=int)
    ruled = np.zeros((5, 5), dtype=int)
    t0, c0 = time.time(), time.process_time()
    for k in range(11):
        tr = (f != k) & (y != "Q")
        te = f == k
        m = model().fit(X[tr], y[tr], sample_weight=weights(y[tr]))
        pred = m.predict(X[te])
        for a, b, c in zip(y[te], pred, vigil_rules(names, X[te], pred)):
            raw[CLASSES.index(a), CLASSES.index(b)] += 1
            ruled[CLASSES.index(a), CLASSES.index(c)] += 1
    cv_wall, cv_cpu = time.time() - t0, time.process_time() - c0
    report("11-fold grouped CV, scikit-learn HistGradientBoostingClassifier, raw predictions", raw)
    report("same, with Vigil's Q, AF and prematurity rules (as vigil model cv prints)", ruled)
    print("CV time %.1f s wall, %.1f s CPU" % (cv_wall, cv_cpu))
    tr = y != "Q"
    t0, c0 = time.time(), time.process_time()
    model().fit(X[tr], y[tr], sample_weight=weights(y[tr]))
    print("one fit on all DS1 (%d beats, 40 rounds): %.2f s wall, %.2f s CPU" % (tr.sum(), time.time() - t0, time.process_time() - c0))

if __name__ == "__main__":
    main()
