"""Training's exceptions; the CLI shows each as one red line."""

from workspace.errors import HarvestError


class TrainingError(HarvestError):
    """Training, evaluation or prediction cannot proceed (no data, bad weights, bad model file)."""
