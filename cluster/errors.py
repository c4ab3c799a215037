"""The cluster's expected failures: each a one-line message the CLI prints in red."""

from workspace.errors import HarvestError


class ClusterError(HarvestError):
    """The scheduler is unreachable, a worker cannot do the work, or versions disagree."""
