"""The unlabelled corpus: camera footage turned into vehicle crops (:mod:`.harvest`), near-duplicates
dropped by perceptual hash (:mod:`.dhash`), a few crops kept per track (:mod:`.track_crops`), written
as WebDataset tar shards with a manifest and read back streaming, split across DDP ranks and
DataLoader workers (:mod:`.shards`, torch-free; :mod:`.stream`, the torch datasets the trainers use).
"""
