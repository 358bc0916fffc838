"""benchmarks/ssl_weight_change.py: the per-stage weight change of a pretrain run, and its AdaBN control."""

import torch

from benchmarks.ssl_weight_change import main, stage_of, weight_change
from vehiclekit.training.core.checkpoint import save_atomic


def test_stages_and_changes_by_hand():
    assert stage_of("net.blocks.3.1.conv_pw.weight") == "blocks.3" and stage_of("net.conv_stem.weight") == "conv_stem"
    reference = {"net.blocks.3.0.w": torch.ones(4), "net.blocks.3.0.bn.running_mean": torch.zeros(2),
                 "net.conv_stem.weight": torch.full((4,), 2.0), "net.blocks.3.0.bn.num_batches_tracked": torch.tensor(1)}
    run = {"net.blocks.3.0.w": torch.tensor([1.0, 1.0, 1.0, 3.0]), "net.blocks.3.0.bn.running_mean": torch.ones(2),
           "net.conv_stem.weight": torch.full((4,), 2.0), "net.blocks.3.0.bn.num_batches_tracked": torch.tensor(9)}
    stages = weight_change(run, reference)
    assert stages["blocks.3"] == {"max_relative_change": 1.0, "tensors": 1, "statistics_changed": 1}   # |(0,0,0,2)| / |(1,1,1,1)|
    assert stages["conv_stem"] == {"max_relative_change": 0.0, "tensors": 1, "statistics_changed": 0}


def test_the_adabn_control_is_imagenet_with_only_the_runs_statistics(tmp_path, capsys):
    from vehiclekit.models.factory import build_backbone

    imagenet = build_backbone("efficientnet-lite0", imagenet=True).state_dict()
    run = {k: v + 1.0 if v.is_floating_point() else v for k, v in imagenet.items()}   # every weight and statistic moved
    save_atomic({"backbone": run, "arch": "efficientnet-lite0"}, tmp_path / "backbone.pt")
    assert main([str(tmp_path / "backbone.pt"), "--adabn-out", str(tmp_path / "adabn" / "backbone.pt")]) == 0
    assert '"max_relative_change"' in capsys.readouterr().out
    control = torch.load(tmp_path / "adabn" / "backbone.pt")["backbone"]
    statistics = [k for k in control if k.endswith(("running_mean", "running_var"))]
    assert statistics and all(torch.equal(control[k], run[k]) for k in statistics)
    assert all(torch.equal(control[k], imagenet[k]) for k in control if k not in statistics)
