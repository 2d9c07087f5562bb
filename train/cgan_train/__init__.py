"""Training, evaluation and checkpoints for cgan-edge (needs the `train` extra)."""
