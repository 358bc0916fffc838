"""Benchmarks and evaluations of vehiclekit, run from the repository root (``python -m benchmarks.parking.evaluate_parking``,
``.venv/bin/python benchmarks/classifier_throughput.py``); not part of the installed package. See benchmarks/README.md."""
