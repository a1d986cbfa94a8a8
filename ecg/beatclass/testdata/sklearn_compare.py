#!/usr/bin/env python3
"""Development-time check: scikit-learn's HistGradientBoostingClassifier on
Vigil's beat features, same protocol as `vigil model cv --folds 11
--early-stop 0 --rounds 40` (records sorted by name, fold = index % 11, fixed
40 rounds, 8-leaf trees with >= 200 beats per leaf, depth <= 6, L2 1,
learning rate 0.1, class weights sqrt(n_N / n_k) on the training folds, Q
beats not trained on); with --loro, one fold per record (as `vigil model cv
--early-stop 0 --rounds 40`).

The matrix is printed twice: the learner's raw predictions, and after the
rules Vigil's Label applies to any model's output, in applyRules' order
(rules.go, rhythm.go; eighth round): the normal-QRS rule (a beat called V
whose QRS matches the template, correlation >= 0.9 over the QRS and width
<= 1.15 of the template's, takes its likeliest other class), the fusion
rule (a beat called V on time, RR >= 0.9 of the NN median, after the usual
P wave, p_fit >= 0.9 within 20 ms of the usual PR, is F), the late-PR
rule (the same beat with a PR more than 20 ms longer than the usual is
N), the wide-beat rule (a beat called N with a QRS >= 1.2 times the
template's width, RMS difference >= 0.1 and p_fit < 0.3 is V), the AF rule (a
beat called S while the long RR irregularity exceeds 0.1 is N), the
aberrated-beat rule (a beat called V with QRS correlation >= 0.5, RR below
0.4 of the NN median and below 0.6 of the interval before it is S), the
prematurity rule (a beat called N with a normal QRS that is early, or mildly
premature with an unusual P wave, in a regular rhythm is S), and Q for a
beat with a flat or missing QRS or noise above twice its amplitude. That is
what `vigil model cv` prints. The columns only the rules read (p_fit,
p_shift; Vigil's trees may not split on them, ml.Config.Exclude) are left
out of the learner's matrix.

With features at the detector's beats (`--positions detector`), lines of
class "-" (a detection without a reference beat) are not trained on and
count against the +P of the class they are given (the "no ref" row), lines
of class "!" (inside ventricular flutter) are left out, and beats the
detector missed are not in the file: compare the matched-beat accuracy,
which `vigil model cv` prints too. Not a dependency of Vigil.

    vigil model features --data DIR [--positions detector] > features.csv
    python3 sklearn_compare.py [--loro] features.csv
"""
import sys, time
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

CLASSES = "NSVFQ"
ROWS = CLASSES + "-"
RULE_ONLY = ("p_fit", "p_shift")  # read by the rules, not by the trees
N, S, V, F, Q = range(5)


def load(path):
    rec, y, X = [], [], []
    with open(path) as f:
        names = next(f).rstrip("\n").split(",")[3:]
        for line in f:
            p = line.rstrip("\n").split(",")
            if p[2] == "!":
                continue
            rec.append(p[0]); y.append(p[2]); X.append([float(v) for v in p[3:]])
    return names, np.array(rec), np.array(y), np.array(X, dtype=np.float32)


def vigil_rules(names, X, prob):
    """Vigil's rules around the model (rules.go applyRules, classifier.go
    unclassifiable); prob holds the N, S, V, F probabilities. Returns class
    indices into CLASSES."""
    col = lambda n: X[:, names.index(n)]
    cq, wr, irr = col("corr_qrs"), col("width_ratio"), col("rr_irregularity_long")
    nn, prev, early, cp = col("rr_pre/nn"), col("rr_pre/prev"), col("rr_pre/nn_early"), col("corr_p")
    pp, noise = col("qrs_pp"), col("noise")
    out = prob.argmax(axis=1)
    # normal-QRS rule: V -> the likeliest other class
    other = prob.copy()
    other[:, V] = -1
    nv = (out == V) & (cq >= 0.9) & (wr <= 1.15)
    out[nv] = other.argmax(axis=1)[nv]
    # fusion rule
    if "p_fit" in names:
        fit, shift = col("p_fit"), col("p_shift")
        out[(out == V) & (fit >= 0.9) & (np.abs(shift) <= 20) & (nn >= 0.9)] = F
        # late-PR rule (eighth round)
        out[(out == V) & (fit >= 0.9) & (shift < -20) & (nn >= 0.9)] = N
        # wide-beat rule
        out[(out == N) & (wr >= 1.2) & (col("rms_diff") >= 0.1) & (fit < 0.3)] = V
    # AF rule
    out[(out == S) & (irr > 0.1)] = N
    # aberrated-beat rule
    out[(out == V) & (cq >= 0.5) & (nn < 0.4) & (prev < 0.6)] = S
    # prematurity rule
    early = (early < 0.8) | ((nn < 0.9) & (cp < 0.3))
    out[(out == N) & early & (cq >= 0.9) & ~(irr > 0.1)] = S
    out[np.isnan(pp) | (pp < 0.03) | (noise > 2)] = Q
    return out


def report(title, cm):
    print(title)
    print("ref\\pred " + "".join("%8s" % c for c in CLASSES) + "    Se%    +P%")
    for i, c in enumerate(ROWS):
        name = c if c != "-" else "no ref"
        line = "%-9s" % name + "".join("%8d" % v for v in cm[i])
        if c != "-":
            se = 100 * cm[i, i] / max(cm[i].sum(), 1)
            pp = 100 * cm[i, i] / max(cm[:, i].sum(), 1)
            line += "  %5.1f  %5.1f" % (se, pp)
        if c != "-" or cm[i].sum() > 0:
            print(line)
    m = cm[:5].sum()
    print("accuracy %.2f %% over %d beats (detections without reference counted as errors); %.2f %% over the %d matched beats"
          % (100 * np.trace(cm[:5]) / cm.sum(), cm.sum(), 100 * np.trace(cm[:5]) / m, m))


def model():
    return HistGradientBoostingClassifier(learning_rate=0.1, max_iter=40, max_leaf_nodes=8,
        max_depth=6, min_samples_leaf=200, l2_regularization=1.0, max_bins=255,
        early_stopping=False, random_state=1)


def weights(y):
    n = {c: max((y == c).sum(), 1) for c in "NSVF"}
    return np.array([np.sqrt(n["N"] / n[c]) for c in y])


def proba(m, X):
    """The N, S, V, F columns of m.predict_proba (classes_ are sorted)."""
    p = m.predict_proba(X)
    out = np.zeros((len(X), 4))
    for j, c in enumerate(m.classes_):
        out[:, "NSVF".index(c)] = p[:, j]
    return out


def main():
    args = [a for a in sys.argv[1:] if a != "--loro"]
    names, rec, y, X = load(args[0])
    learn = [j for j, n in enumerate(names) if n not in RULE_ONLY]
    recs = sorted(set(rec))
    k_folds = len(recs) if "--loro" in sys.argv else 11
    fold = {r: i % k_folds for i, r in enumerate(recs)}
    f = np.array([fold[r] for r in rec])
    trainable = np.isin(y, list("NSVF"))
    raw = np.zeros((6, 5), dtype=int)
    ruled = np.zeros((6, 5), dtype=int)
    t0, c0 = time.time(), time.process_time()
    for k in range(k_folds):
        tr = (f != k) & trainable
        te = f == k
        m = model().fit(X[tr][:, learn], y[tr], sample_weight=weights(y[tr]))
        p = proba(m, X[te][:, learn])
        for a, b, c in zip(y[te], p.argmax(axis=1), vigil_rules(names, X[te], p)):
            raw[ROWS.index(a), b] += 1
            ruled[ROWS.index(a), c] += 1
    cv_wall, cv_cpu = time.time() - t0, time.process_time() - c0
    report("%d-fold grouped CV, scikit-learn HistGradientBoostingClassifier, raw predictions" % k_folds, raw)
    report("same, with Vigil's rules (as vigil model cv prints)", ruled)
    print("CV time %.1f s wall, %.1f s CPU" % (cv_wall, cv_cpu))
    t0, c0 = time.time(), time.process_time()
    model().fit(X[trainable][:, learn], y[trainable], sample_weight=weights(y[trainable]))
    print("one fit on all DS1 (%d beats, 40 rounds): %.2f s wall, %.2f s CPU"
          % (trainable.sum(), time.time() - t0, time.process_time() - c0))


if __name__ == "__main__":
    main()
