"""Training: the ``train-vehicle`` command and everything it runs (torch). Nothing imports this.

One room per task, each with its evaluation beside it: :mod:`classifier` (supervised training,
export, vehicle-type and attribute evaluation), :mod:`detection`, :mod:`ssl`, :mod:`ups`, :mod:`reid`,
:mod:`active`, :mod:`studies`; :mod:`core` holds what they share (the trainer, checkpoints, datasets).
At the top: the command table (:mod:`cli`) and the commands that span the rooms (``study``,
``make-splits``, ``quantize``).
"""
