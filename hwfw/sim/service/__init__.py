"""The Redfish service of a simulated BMC, split by concern (see base.py)."""
