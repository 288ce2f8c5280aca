// Package fashion loads the Fashion-MNIST image classification data set from
// its IDX files and serves it as flat float32 slices ready for a classifier.
//
// The four files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) may be gzip-compressed or
// plain; compression is detected from the content, and a name may carry a
// ".gz" suffix or not. On Debian the package dataset-fashion-mnist installs
// them under [DefaultDir].
//
// Every file is validated before it is used: IDX magic numbers, element type,
// dimensions (28×28 images, one label per image), label range and the exact
// byte count. A malformed file yields an error wrapping [ErrMalformed] and
// never a panic; the declared dimensions are never trusted for an allocation
// larger than the data actually present.
//
// A [Set] holds images as one flat slice of N×[Pixels] float32 values scaled to
// [0,1] and labels as bytes in [0,[NumClasses]). [Set.Shard] and [Set.Slice]
// return views without copying, [Set.Batch] gathers chosen samples into
// caller-owned buffers, and a [Batcher] walks a set in shuffled minibatches,
// one epoch after another, without allocating. The package has no mutable
// package-level state, so each actor of a distributed program can hold its
// own sets.
package fashion
