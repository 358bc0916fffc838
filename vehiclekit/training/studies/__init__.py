"""Resumable experiment grids behind the tables in docs/ (each step a `train-vehicle` subprocess)."""
