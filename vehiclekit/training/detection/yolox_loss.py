"""YOLOX's training loss with SimOTA label assignment (Ge et al., "YOLOX: Exceeding YOLO Series in
2021", arXiv:2107.08430, sections 2.1-2.3), following Megvii's ``YOLOXHead.get_losses`` (Apache-2.0).

For each image, anchor points whose centre lies within 1.5 strides of a ground-truth centre are
candidates for that box. SimOTA prices every (box, candidate) pair as classification cost + 3 x IoU
cost, gives each box its ``k`` cheapest candidates (``k`` = the summed IoU of its 10 best-overlapping
candidates, at least 1) and settles an anchor claimed by several boxes for the cheapest. Then:
``5 x IoU loss + objectness BCE + classification BCE (target = one-hot x IoU) [+ L1 on the raw box]``,
each summed and divided by the number of matched anchors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vehiclekit.sdk.detector import grid_and_strides

CENTER_RADIUS = 1.5
IOU_WEIGHT = 5.0


def anchor_points(size: tuple[int, int], device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell offsets ``[A, 2]`` (x, y) and strides ``[A]`` in the network's output order for ``size`` (H, W):
    the SDK's decoding grid (:func:`~vehiclekit.sdk.detector.grid_and_strides`) as tensors."""
    grid, strides = grid_and_strides(size)
    return torch.from_numpy(grid).to(device), torch.from_numpy(strides[:, 0]).to(device)


def decode_boxes(raw: torch.Tensor, grid: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """Raw regression ``[..., A, 4]`` to boxes ``(cx, cy, w, h)`` in input pixels."""
    return torch.cat([(raw[..., :2] + grid) * strides[:, None], torch.exp(raw[..., 2:4]) * strides[:, None]], dim=-1)


def box_iou_cxcywh(a: torch.Tensor, b: torch.Tensor, pairwise: bool = True) -> torch.Tensor:
    """IoU of ``(cx, cy, w, h)`` boxes: ``[N, M]`` when ``pairwise``, else ``[N]`` row by row."""
    if pairwise:
        a, b = a[:, None], b[None]
    lt = torch.maximum(a[..., :2] - a[..., 2:] / 2, b[..., :2] - b[..., 2:] / 2)
    rb = torch.minimum(a[..., :2] + a[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2)
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (a[..., 2:].prod(-1) + b[..., 2:].prod(-1) - inter + 1e-16)


@torch.no_grad()
def simota_assign(boxes: torch.Tensor, cls_logits: torch.Tensor, obj_logits: torch.Tensor, gt_boxes: torch.Tensor,
                  gt_classes: torch.Tensor, grid: torch.Tensor, strides: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SimOTA for one image. Returns the foreground mask ``[A]``, the matched box index of each
    foreground anchor and the IoU of its prediction with that box."""
    centers = (grid + 0.5) * strides[:, None]
    reach = CENTER_RADIUS * strides[None, :]
    near = ((centers[None, :, 0] - gt_boxes[:, None, 0]).abs() < reach) & ((centers[None, :, 1] - gt_boxes[:, None, 1]).abs() < reach)
    candidate = near.any(dim=0)
    fg_mask = torch.zeros_like(candidate)
    if not candidate.any():
        return fg_mask, gt_classes.new_zeros(0), boxes.new_zeros(0)
    ious = box_iou_cxcywh(gt_boxes, boxes[candidate])
    scores = (cls_logits[candidate].float().sigmoid() * obj_logits[candidate, None].float().sigmoid()).sqrt()
    # Binary cross-entropy against each box's one-hot class, summed over classes (logs clamped at -100 as
    # torch's BCE does): every class's "not this" term, with the box's own class term swapped in.
    log_yes, log_no = scores.log().clamp(min=-100), (1 - scores).log().clamp(min=-100)
    cls_cost = -log_no.sum(1)[None] + (log_no - log_yes)[:, gt_classes].T
    cost = cls_cost + 3.0 * -torch.log(ious + 1e-8) + 1e5 * (~near[:, candidate])
    dynamic_k = ious.topk(min(10, ious.shape[1]), dim=1).values.sum(1).int().clamp(min=1)
    matching = torch.zeros_like(cost, dtype=torch.bool)
    for g in range(len(gt_boxes)):
        matching[g, cost[g].topk(int(dynamic_k[g]), largest=False).indices] = True
    shared = matching.sum(0) > 1
    if shared.any():
        matching[:, shared] = False
        matching[cost[:, shared].argmin(0), shared.nonzero().squeeze(1)] = True
    taken = matching.any(0)
    fg_mask[candidate.nonzero().squeeze(1)[taken]] = True
    matched = matching[:, taken].float().argmax(0)
    return fg_mask, matched, ious[:, taken][matched, torch.arange(len(matched))]


def _class_weights(matches: list[torch.Tensor], num_classes: int, open_classes: dict[int, tuple[int, ...]] | None) -> torch.Tensor | None:
    """Per (foreground anchor, class) weights of the classification loss: 0 for the classes the
    anchor's label leaves open, else 1; None when no label leaves any open."""
    if not open_classes:
        return None
    labels = torch.cat(matches)
    weights = torch.ones(len(labels), num_classes, device=labels.device)
    for label, others in open_classes.items():
        weights[(labels == label).nonzero(), torch.tensor(others)] = 0.0
    return weights


def yolox_loss(raw: torch.Tensor, targets: list[torch.Tensor], size: tuple[int, int], use_l1: bool = False,
               open_classes: dict[int, tuple[int, ...]] | None = None) -> dict[str, torch.Tensor]:
    """The YOLOX loss of a batch. ``raw``: the network's ``[B, A, 5 + C]`` logits; ``targets[i]``:
    ``[N_i, 5]`` rows ``(class, cx, cy, w, h)`` in input pixels. ``open_classes``: for a labelled
    class, the classes its label does not rule out (a partial label): on anchors matched to such a
    box, their logits get no classification loss. Returns the total and its parts."""
    grid, strides = anchor_points(size, raw.device)
    boxes = decode_boxes(raw[..., :4], grid, strides)
    fg_masks, obj_targets, cls_targets, box_targets, l1_targets, matches = [], [], [], [], [], []
    for b, target in enumerate(targets):
        if len(target) == 0:
            fg = torch.zeros(raw.shape[1], dtype=torch.bool, device=raw.device)
            matched, ious = target.new_zeros(0, dtype=torch.long), raw.new_zeros(0)
        else:
            fg, matched, ious = simota_assign(boxes[b].detach(), raw[b, :, 5:].detach(), raw[b, :, 4].detach(), target[:, 1:],
                                              target[:, 0].long(), grid, strides)
        gt = target[matched, 1:] if len(target) else raw.new_zeros(0, 4)
        matches.append(target[matched, 0].long() if len(target) else matched)
        fg_masks.append(fg)
        obj_targets.append(fg.float())
        cls_targets.append(F.one_hot(matches[-1], raw.shape[-1] - 5).float() * ious[:, None] if len(target) else raw.new_zeros(0, raw.shape[-1] - 5))
        box_targets.append(gt)
        fg_stride, fg_grid = strides[fg], grid[fg]
        l1_targets.append(torch.cat([gt[:, :2] / fg_stride[:, None] - fg_grid, torch.log(gt[:, 2:] / fg_stride[:, None] + 1e-8)], dim=1))
    fg = torch.cat([m[None] for m in fg_masks])
    num_fg = max(int(fg.sum()), 1)
    iou = box_iou_cxcywh(boxes[fg], torch.cat(box_targets), pairwise=False)
    losses = {
        "iou": IOU_WEIGHT * (1 - iou**2).sum() / num_fg,
        "obj": F.binary_cross_entropy_with_logits(raw[..., 4], torch.stack(obj_targets), reduction="sum") / num_fg,
        "cls": F.binary_cross_entropy_with_logits(raw[..., 5:][fg], torch.cat(cls_targets), reduction="sum",
                                                  weight=_class_weights(matches, raw.shape[-1] - 5, open_classes)) / num_fg,
    }
    if use_l1:
        losses["l1"] = F.l1_loss(raw[..., :4][fg], torch.cat(l1_targets), reduction="sum") / num_fg
    losses["total"] = sum(losses.values())
    return losses
