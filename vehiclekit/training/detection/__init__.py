"""Vehicle detection: COCO AP of the YOLOX-Nano detector (:mod:`evaluate`, ``train-vehicle evaluate-detector``)."""
