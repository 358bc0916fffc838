"""Self-supervised pretraining of vehiclekit backbones (``train-vehicle pretrain`` / ``evaluate``).

Small modules composed lightly-style rather than inherited, each citing its paper:

- building blocks: :mod:`heads` (projection / prediction MLPs), :mod:`losses` (negative cosine with
  stop-gradient, NT-Xent, InfoNCE), :mod:`momentum` (EMA target networks), :mod:`queue` (MoCo's key
  queue), :mod:`distributed` (gradient-preserving all-gather, batch norm across processes);
- methods, each an ``nn.Module`` with ``forward(view1, view2) -> loss`` on top of
  ``vehiclekit.models.factory.build_backbone``: :mod:`simsiam`, :mod:`byol`, :mod:`simclr`, :mod:`moco`;
- data and evaluation: :mod:`data` (unlabeled folders and presets that never include evaluation
  images), :mod:`knn`, :mod:`linear_probe`, :mod:`monitor`;
- commands: :mod:`pretrain`, :mod:`evaluate`.
"""
