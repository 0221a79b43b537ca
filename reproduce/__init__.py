"""Experiments on top of the library: scoring, Caffe-faithful training, evaluation and one script per paper
table. Nothing in nets/, weights/ or data/ imports this package."""
