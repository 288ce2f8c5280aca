// Command paramserver trains a Fashion-MNIST classifier with a parameter
// server, the pattern of Ray's parameter-server example written with goray.
//
// A parameter-server actor holds the flat weight vector of an mlp.Model and
// its Adam state; data-worker actors each load the data set themselves from
// the directory they are given, keep their shard of the training set, and
// compute gradients on the weights they are sent; an evaluator actor holds
// the test set. Everything moves through actor calls and Refs: the driver
// passes the weights Ref a server returns straight to the workers, and the
// gradient Refs the workers return straight to the server, without
// fetching weights or gradients itself while it trains; it fetches the
// final weights once, at the end. The program therefore runs on a cluster
// unchanged.
//
// Three modes:
//
//   - sync: every update, each of the W workers computes the gradient of its
//     part of one batch on the current weights; the server averages the W
//     gradients and applies one Adam step.
//   - async: the server applies whichever worker's gradient arrives first
//     (goray.Wait with numReady 1) and that worker goes on with the weights
//     that update returns; the program reports the distribution of the
//     staleness of the applied gradients, the number of updates between the
//     weights a gradient was computed on and the weights it is applied to.
//   - sharded: as sync, but K servers each hold a contiguous range of the
//     parameter vector (mlp.Shards) with its own Adam state. A worker
//     receives the K weight shards, computes one gradient, and hands server k
//     only range k of it.
//
// Usage:
//
//	paramserver [-mode sync|async|sharded] [-workers W] [-shards K] [-epochs N]
//	            [-batch B] [-lr LR] [-decay D] [-data DIR] [-eval-every U]
//	            [-save FILE] [-curve FILE]
//	paramserver -load FILE [-data DIR]
//
// -save writes the trained weights in the parameter file format of package
// mlp, -curve the test evaluations as CSV, and -load evaluates saved weights
// on the test set instead of training.
//
// Run with -h for every flag. The data set comes from the Debian package
// dataset-fashion-mnist; when it is missing the program says how to install
// it and exits with status 1.
package main
