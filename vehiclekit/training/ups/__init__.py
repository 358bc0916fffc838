"""UPS: uncertainty-aware pseudo-label selection (Rizve et al., ICLR 2021) and its baselines."""
