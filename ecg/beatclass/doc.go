// Package beatclass classifies heartbeats of a single-lead ECG into the
// ANSI/AAMI EC57 classes N (normal and bundle-branch-block beats), S
// (supraventricular ectopic), V (ventricular ectopic), F (fusion) and Q
// (unclassifiable), and explains each decision.
//
// The method follows the inter-patient paradigm of de Chazal, O'Dwyer &
// Reilly ("Automatic classification of heartbeats using ECG morphology and
// heartbeat interval features", IEEE TBME 51(7), 2004): features from the RR
// intervals around each beat, normalised by the patient's own local and
// long-term rhythm and by the intervals between the patient's N-like beats,
// and from the QRS morphology of channel 0, here also compared with the
// patient's running median beat after aligning the beat to it (align.go)
// and with the previous beat. A beat the model calls V whose QRS matches
// the patient's usual one in shape and width is not called V, and one
// whose QRS keeps the usual beat's form but that ends a very short cycle
// after a longer one (aberrant conduction, the Ashman phenomenon) is
// called S; one that comes on time after the patient's usual P wave at
// the usual PR interval (pwave.go) is a fusion beat and called F, one
// after it at a longer PR interval was conducted and is called N, and a
// beat the model calls N whose QRS is wide and changed with no such P
// wave before it is called V (rules.go).
// A beat the model calls S in an irregularly irregular rhythm (atrial
// fibrillation) is called N, and a beat it calls N whose QRS matches the
// patient's usual one but that comes early (premature against the NN
// rhythm, abruptly or in a run) is called S: the trees judge the shape, the
// rhythm decides between N and S (rhythm.go). A gradient-boosted tree
// model (package ml) trained on the MIT-BIH DS1 records labels the beats;
// TreeSHAP attributions, grouped into clinical concepts (prematurity,
// compensatory pause, QRS width, shape unlike the patient's usual beat…),
// become a plain-language explanation.
//
// Patient adaptation follows de Chazal & Reilly ("A patient-adapting
// heartbeat classifier using ECG morphology and heartbeat interval
// features", IEEE TBME 53(12), 2006) and Hu, Palreddy & Tompkins (IEEE TBME
// 44(9), 1997): the beats a clinician has labelled in the first minutes of a
// recording become a local nearest-neighbour expert, mixed with the global
// model by a gate that trusts it for beats that resemble the labelled ones,
// and bounded by rules read off the same labels: no N for an early beat
// unless labelled N beats were as early, no N for a shape unlike every
// labelled N beat, S for a normal-QRS beat well below the patient's
// shortest labelled normal-to-normal interval, V for a beat shaped more
// like a labelled V beat than like any labelled N beat (Adapt; AdaptBoost instead
// extends the global model with a few boosting rounds fitted on that
// patient).
//
// Features are computed from beat positions, so the same code runs on the
// reference annotations (training, evaluation) and on detected beats.
package beatclass
