"""Training: the ``train-vehicle`` command and everything it runs (torch). Nothing imports this."""
