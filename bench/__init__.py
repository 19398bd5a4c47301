"""The benchmark suite of genesys_assets: `python -m bench` (or `make bench`).

Every benchmark runs on the embedded defaults (local stage, DuckDB) against a Genesys Cloud
simulator that this process starts itself, so that the API's latency, rate limit and answer
sizes are known and the requests can be counted on the server side. The workloads run in child
processes: imports are paid as a user pays them, and each child's peak RSS is its own.

These machines are shared and noisy: every figure is a median of several runs, and every
comparison is made side by side, repetition by repetition, in the same run. Nothing here is a
test with a time limit; targets are reported as met or missed, never asserted.
"""
