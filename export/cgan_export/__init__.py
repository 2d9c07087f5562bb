"""Checkpoint to verified ONNX generator (needs the `train` extra)."""
