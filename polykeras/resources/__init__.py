"""Files polykeras reads at run time: the MNIST sample (`mnist_sample.npz`), its provenance and licence."""
