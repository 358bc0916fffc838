"""Parking evaluations on the vehicle-reid images: synthetic car-park traffic (:mod:`~benchmarks.parking.synthetic`),
pay at the barrier (:mod:`~benchmarks.parking.evaluate_parking`) and settlement with its calibrated cut
(:mod:`~benchmarks.parking.evaluate_settlement`). Run from the repository root, e.g.
``python -m benchmarks.parking.evaluate_settlement --calibrate-on val``; results: docs/results.md."""
