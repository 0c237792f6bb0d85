"""Benchmarks for callscreen: ring-time decisions, AMI ingestion, history size, replay, memory.

Run `python -m bench` (full, about 20 minutes on 2 cores) or `python -m bench --quick`
(seconds, tiny sizes, proves only that the benchmarks still run). Everything binds and
connects to 127.0.0.1; docs/benchmarks.md describes each benchmark and its results.
"""
