"""Offline evaluation: the serving pipeline, in process, on labelled data, beside baselines.

``eval.datasets`` loads the raw public formats (any file of the format, by path); ``eval.systems``
builds systems from specs (``pipeline:-rerank``); ``eval.faq``, ``eval.intent``, ``eval.reply`` and
``eval.matching`` run the four tasks; ``eval.metrics`` are the pure metric functions;
``eval.runner`` ties a run together and writes ``metrics.json``, ``eval.report`` the HTML report,
``eval.compare`` diffs two runs. ``smartreply eval …`` (service/cli/eval.py) is the command line.
``eval/bench`` is the separate load/latency benchmark against a running server.
"""
