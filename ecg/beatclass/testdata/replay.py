#!/usr/bin/env python3
"""Development harness: replays the rules that act after the trees
(rules.go applyRules, classifier.go unclassifiable) on the held-out raw
margins that TestReplayDump stores, and prints the figures `vigil model cv
--positions detector --seed N` prints (missed beats against Se, detections
without a reference beat against +P, beats inside ventricular flutter left
out). Because the rules do not change the trees, a candidate rule replayed
here gives its cross-validated figures exactly; the script checks first
that its replay of the shipped rules gives the labels Label gave.

    VIGIL_REPLAY_DIR=/tmp/replay VIGIL_REPLAY_SEEDS=1,2,3 \\
        go test ./ecg/beatclass -run TestReplayDump -timeout 60m
    python3 testdata/replay.py /tmp/replay/replay-seed*.csv

Needs numpy. Not a dependency of Vigil.
"""
import sys
import numpy as np

CL = "NSVFQ"
N, S, V, F, Q = range(5)


class Dump:
    """One replay-seedN.csv: per detected beat (and per missed beat) its
    record, sample, reference, Label's class, raw margins and features."""

    def __init__(self, path):
        with open(path) as f:
            hdr = f.readline().rstrip("\n").split(",")
            rows = [line.rstrip("\n").split(",") for line in f]
        self.names = hdr[8:]
        self.rec = np.array([r[0] for r in rows])
        self.samp = np.array([int(r[1]) for r in rows])
        self.ref = np.array([r[2] for r in rows])
        self.pred = np.array([r[3] for r in rows])
        self.M = np.array([[float(v) for v in r[4:8]] for r in rows])
        self.X = np.array([[float(v) for v in r[8:]] for r in rows], dtype=np.float32)

    def col(self, name):
        return self.X[:, self.names.index(name)]


def rules(d, extra=None):
    """The class index of every row after the shipped rules, in
    applyRules' order; extra(d, out, M), if given, runs after the
    wide-beat rule (a candidate rule). A dump made before the eighth round
    replays the eighth round's rules too (the late-PR rule reads the same
    columns as the fusion rule)."""
    c = d.col
    M = d.M
    out = M.argmax(axis=1)
    cq, wr, irr = c("corr_qrs"), c("width_ratio"), c("rr_irregularity_long")
    nn, prev, early, cp = c("rr_pre/nn"), c("rr_pre/prev"), c("rr_pre/nn_early"), c("corr_p")
    # normal-QRS rule: V to the likeliest other class
    other = M.copy()
    other[:, V] = -np.inf
    nv = (out == V) & (cq >= 0.9) & (wr <= 1.15)
    out[nv] = other.argmax(axis=1)[nv]
    # fusion rule: V on time after the usual P wave at the usual PR is F
    if "p_fit" in d.names:
        fu = (out == V) & (c("p_fit") >= 0.9) & (np.abs(c("p_shift")) <= 20) & (nn >= 0.9)
        out[fu] = F
    # late-PR rule (eighth round): V on time after the usual P wave at a
    # longer PR is N
    if "p_fit" in d.names:
        lp = (out == V) & (c("p_fit") >= 0.9) & (c("p_shift") < -20) & (nn >= 0.9)
        out[lp] = N
    # wide-beat rule: N wide, changed, without the usual P wave is V
    if "p_fit" in d.names:
        wb = (out == N) & (wr >= 1.2) & (c("rms_diff") >= 0.1) & (c("p_fit") < 0.3)
        out[wb] = V
    if extra is not None:
        out = extra(d, out, M)
    # AF rule
    out[(out == S) & (irr > 0.1)] = N
    # aberrated-beat rule
    out[(out == V) & (cq >= 0.5) & (nn < 0.4) & (prev < 0.6)] = S
    # prematurity rule
    e = (early < 0.8) | ((nn < 0.9) & (cp < 0.3))
    out[(out == N) & e & (cq >= 0.9) & ~(irr > 0.1)] = S
    pp, noise = c("qrs_pp"), c("noise")
    out[np.isnan(pp) | (pp < 0.03) | (noise > 2)] = Q
    return out


def figures(d, out):
    """accuracy, S Se/+P, V Se/+P, F Se/+P (%), as vigil model cv."""
    cm = np.zeros((5, 5), int)
    missed = np.zeros(5, int)
    extra = np.zeros(5, int)
    for r, p, o in zip(d.ref, d.pred, out):
        if p == "missed":
            missed[CL.index(r)] += 1
        elif r == "-":
            extra[o] += 1
        elif r != "!":
            cm[CL.index(r), o] += 1
    acc = 100 * np.trace(cm) / (cm.sum() + missed.sum() + extra.sum())
    se = lambda k: 100 * cm[k, k] / max(cm[k].sum() + missed[k], 1)
    pp = lambda k: 100 * cm[k, k] / max(cm[:, k].sum() + extra[k], 1)
    return acc, se(S), pp(S), se(V), pp(V), se(F), pp(F)


def fmt(x):
    return "%.2f · S %.1f/%.1f · V %.1f/%.1f · F %.1f/%.1f" % tuple(x)


def main():
    for path in sys.argv[1:]:
        d = Dump(path)
        out = rules(d)
        ok = d.pred != "missed"
        agree = (np.array([CL[o] for o in out]) == d.pred)[ok].mean()
        print("%s: replay = Label for %.4f of the beats; %s" % (path, agree, fmt(figures(d, out))))


if __name__ == "__main__":
    main()
