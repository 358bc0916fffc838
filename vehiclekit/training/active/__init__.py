"""Active learning: which unlabelled images a person should label next (`train-vehicle select`)."""
