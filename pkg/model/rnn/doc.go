// Package rnn implements GRU and LSTM forecasters in pure Go: one
// recurrent layer over the input window, a dense layer to the targets,
// trained with truncated back-propagation through time over the window,
// Adam, mini-batches, global-norm gradient clipping and early stopping
// on a validation split.
//
// The dense layer predicts the change from the last observed targets
// (y = x_last[:targets] + W·h + b): a residual connection, so an untrained
// network starts as the persistence baseline and training only has to
// learn the correction towards the seasonal level.
package rnn
