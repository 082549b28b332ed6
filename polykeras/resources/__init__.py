"""Files polykeras reads at run time: the MNIST sample (`mnist_sample.npz`) and its provenance and licence (`MNIST_SAMPLE.md`)."""
