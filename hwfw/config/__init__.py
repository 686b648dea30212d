"""Load and validate workspace YAML into typed objects."""

from hwfw.config.loader import WorkspaceCheck, check_workspace, display_path, load_workspace
from hwfw.config.model import Workspace

__all__ = ["Workspace", "WorkspaceCheck", "check_workspace", "display_path", "load_workspace"]
