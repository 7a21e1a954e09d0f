// Package score computes forecast errors (RMSE, MAE, MSE) and the
// promotion score 0.5·rmse + 0.3·mae + 0.2·mse.
package score
