"""Training: Keras models, evaluation, prediction, pseudo-labelling, self-training."""
