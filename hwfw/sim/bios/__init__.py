"""Simulated BIOS configuration: attribute registries per platform and BIOS version
(registry.py, catalogs.py) and the stored/pending attribute state (state.py).
The Redfish resources are in hwfw/sim/service/bios.py and the vendor profiles."""
