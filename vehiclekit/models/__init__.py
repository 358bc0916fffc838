"""Networks (torch, imported on demand) and the model zoo (pure metadata)."""
