"""What every ``train-vehicle`` training shares: the epoch loop and the run directory's trainer
(:mod:`loop`, :mod:`trainer`: resume, ``best.pt`` / ``last.pt``, history), atomic checkpoints and run
options (:mod:`checkpoint`), learning-rate schedules, classification metrics, transforms, the shared
datasets with their committed splits and the user's own labelled images (:mod:`user_images`)."""
