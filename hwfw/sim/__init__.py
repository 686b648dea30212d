"""Vendor-faithful BMC simulator: Dell iDRAC9, HPE iLO 5/6, Supermicro X12/X13, plain DMTF.

Entry points: `hwfw sim serve` (hwfw/cli/sim.py) and `hwfw.sim.runtime.EmbeddedFleet`.
"""
