// Package preprocess turns a raw KPI frame into the scaled series the
// models train on: re-grid to the sampling step, KNN imputation, six
// cyclic time features, and a min-max scaler fitted on the chronological
// training part only.
//
// The result (Processed) stores the scaled series and the split index,
// not materialised windows; Window/Windows produce the (window x 17)
// inputs and 11 targets on demand, which keeps the stored object small.
package preprocess
