"""The replica search site: local pages built like each engine's, for tests, demos and benchmarks."""

from replica.config import ReplicaConfig
from replica.server import ReplicaSite

__all__ = ["ReplicaConfig", "ReplicaSite"]
