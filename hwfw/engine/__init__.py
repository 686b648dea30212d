"""Engines that execute an apply somewhere other than in the process that planned it.

The local engine is the executor itself (hwfw.apply.executor), running in the `hwfw
apply` process. `hwfw.engine.temporal` runs the same plan as Temporal workflows: one
rollout workflow applying the scheduler's rules, one child workflow per host walking
its DAG, and the executor's steps as activities on per-site task queues, executed by
`hwfw worker` processes. Its modules import `temporalio` themselves; nothing here does,
so the local engine never pays for it.
"""
