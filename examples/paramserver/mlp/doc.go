// Package mlp is a multilayer-perceptron classifier whose parameters live in
// one flat []float32, so that a parameter server can hold the vector, split
// it into contiguous shards and move weights and gradients as plain numeric
// slices.
//
// A [Model] only describes the layer sizes, e.g. 784-256-128-10: ReLU hidden
// layers and a softmax cross-entropy output. [Model.Init] draws He-initialised
// parameters; [Model.Gradient] computes the mean loss and its gradient over a
// minibatch with batched matrix products, reusing a [Workspace] so that
// steady-state calls do not allocate; [Model.Predict] and [Model.Accuracy]
// evaluate a set.
//
// The optimizers [SGD] and [Adam] update any contiguous range of the vector:
// a shard holds its own optimizer over params[lo:hi] and grad[lo:hi], with
// ranges from [Shards], and K sharded optimizers produce bit-for-bit the
// same parameters as one over the whole vector.
//
// On amd64 CPUs with AVX2 and FMA, matrix products run on a 4×16 register-
// blocked vector kernel and Adam on an 8-lane kernel; elsewhere products go to
// gonum's float32 BLAS, which measured about 8× slower on the training shapes
// (BenchmarkGemm). Nothing here starts goroutines: parallelism belongs to the
// caller, for instance one goroutine or worker per part of a batch, each with
// its own Workspace and gradient slice, their mean gradients averaged by
// part size.
//
// A recipe that reaches about 0.89 test accuracy on Fashion-MNIST (see
// TestTrainFashion): sizes 784-256-128-10, batches of 128, Adam with
// learning rate 2e-3 (B1 0.9, B2 0.999, Eps 1e-8) multiplied by 0.75 after
// each epoch, 12 epochs.
package mlp
