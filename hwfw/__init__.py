"""hwfw: declarative firmware management for server fleets.

Operators keep baselines, a compatibility matrix, update sequences and a firmware
repository in Git; `hwfw plan` diffs them against live BMC inventory and `hwfw apply`
executes the resulting dependency graph.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
