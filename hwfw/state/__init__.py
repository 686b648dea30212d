"""The state file: what hwfw has done to the fleet, with lineage and serial."""
