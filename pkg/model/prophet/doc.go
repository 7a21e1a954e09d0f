// Package prophet is a Prophet-style forecaster, one regression per
// target: a piecewise-linear trend with changepoints plus Fourier daily and
// weekly seasonality, fitted by ridge-regularised least squares (normal
// equations solved by Cholesky). Forecasts come from timestamps.
//
// Unlike Prophet, it optionally adds an AR(1) correction of the last
// observed residual (phi fitted on the training residuals): with a window
// of recent values at hand this is free accuracy, and phi is 0 when the
// residuals are not autocorrelated.
package prophet
