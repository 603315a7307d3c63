"""Imported by Python at start-up in every process whose ``PYTHONPATH`` names this folder
(``bench.end_to_end`` starts the bridge so): traces its AWS and RAYNET requests into
``BENCH_TRACE_DIR`` (``bench/aws_trace.py``)."""

try:
    from bench.aws_trace import install

    install()
except Exception as error:  # noqa: BLE001 - a benchmark's hook never stops the bridge
    import sys

    print(f"bench trace not installed: {error!r}", file=sys.stderr)
