"""Vehicle re-identification: the "bag of tricks" baseline (Luo et al. 2019) — BNNeck, ID loss with
label smoothing + batch-hard triplet loss (Hermans et al. 2017), P×K identity sampling — and the
standard cross-camera evaluation (CMC, mAP, mINP; optional k-reciprocal re-ranking, Zhong et al. 2017).
"""
