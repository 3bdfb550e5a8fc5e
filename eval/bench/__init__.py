"""Load and latency benchmarks: synthetic shops, the real server, a naive baseline, one report.

Entry point: ``smartreply bench`` (``service/cli/bench.py``) → :func:`eval.bench.runner.run_bench`.
Nothing here is imported by the product; the servers run as their own processes.
"""
