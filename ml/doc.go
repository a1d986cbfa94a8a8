// Package ml holds Vigil's diagnostic learners: histogram-based
// gradient-boosted decision trees for multiclass problems, a regularised
// multinomial logistic regression baseline, exact TreeSHAP feature
// attributions, temperature-scaling calibration and a versioned model file
// format. It uses only the standard library and does no I/O beyond the
// io.Reader/io.Writer handed to the codec.
//
// The tree learner follows the histogram design of LightGBM (Ke et al.,
// "LightGBM: A Highly Efficient Gradient Boosting Decision Tree", NeurIPS
// 2017): features are binned once into at most 255 quantile bins, each node
// builds per-feature gradient histograms (only for the smaller child; the
// larger one is the parent minus it), and trees grow leaf-wise under a leaf
// budget, a depth limit, a minimum number of samples per leaf and an L2
// penalty on leaf values (Chen & Guestrin, "XGBoost", KDD 2016, eq. 5-7).
// Multiclass training uses the softmax loss with one tree per class and
// round, per-class weights, and early stopping on a validation split drawn by
// group (patient), so that the stopping point is never chosen on beats of a
// patient the model trains on. Training is deterministic: for a given dataset
// and Config (including Seed) the model, and its encoding, are byte-for-byte
// identical whatever the number of workers.
//
// Explanations use the exact TreeSHAP algorithm (Lundberg, Erion & Lee,
// "Consistent Individualized Feature Attribution for Tree Ensembles", 2018,
// Algorithm 2) with the path-dependent (cover-weighted) conditional
// expectation; attributions of one class's raw margin sum to that margin
// minus its expected value. Probabilities are calibrated by temperature
// scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017)
// and reported with log-loss and expected calibration error.
//
// The model file format is documented in FORMAT.md.
package ml
