"""Loss and Dice over labeled pixels only (``target == -1`` is ignored).

Cross-entropy + soft Dice in float32 from log-softmax with epsilons, so a batch that lacks
a class gives no NaN. A 1-channel (sigmoid) model is handled as two classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _two_class_logits(logits: torch.Tensor) -> torch.Tensor:
    """A 1-channel (sigmoid) model as 2-class logits: softmax([0, z]) = [1 - s(z), s(z)]."""
    if logits.shape[1] == 1:
        return torch.cat([torch.zeros_like(logits), logits], dim=1)
    return logits


def masked_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Cross-entropy + soft Dice over labeled pixels only (``target == -1`` is ignored).

    Parameters
    ----------
    logits : Tensor
        (B, C, *spatial); a single channel is a sigmoid foreground logit.
    target : Tensor
        (B, *spatial) long, class index or -1.
    eps : float
        Smoothing of the soft Dice.

    Returns
    -------
    Tensor
        Scalar: mean cross-entropy over labeled pixels plus ``1 - mean Dice`` over the
        classes present among the labeled pixels (0 when nothing is labeled). Validation
        Dice is counted on the hard prediction instead (:func:`hard_dice_counts`).
    """
    logits = _two_class_logits(logits.float())
    mask = target >= 0
    # Fused log-softmax + NLL; the ignored pixels add nothing.
    ce = F.cross_entropy(logits, target, ignore_index=-1, reduction="sum")
    ce = ce / mask.sum().clamp_min(1)
    m = mask.unsqueeze(1)
    prob = torch.softmax(logits, dim=1) * m
    onehot = torch.zeros_like(prob).scatter_(1, target.clamp_min(0).unsqueeze(1), 1.0) * m
    dims = [0] + list(range(2, logits.ndim))
    inter = (prob * onehot).sum(dims)
    psum = prob.sum(dims)
    tsum = onehot.sum(dims)
    present = tsum > 0
    dice = (2 * inter + eps) / (psum + tsum + eps)
    dice_loss = (1 - dice[present]).mean() if present.any() else ce * 0
    return ce + dice_loss


def keep_prior_loss(
    logits: torch.Tensor, prior_logits: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """KL divergence from the starting model's answers, over the unlabeled pixels only.

    Fine-tuning on a few strokes says nothing about the pixels nobody painted; without
    this term the network is free to forget there what it knew (dots inside objects and
    strokes through the background shrink its objects). The term keeps its answers on
    the unpainted pixels close to the starting model's (a distillation, measured in
    docs/benchmarks.md, Accuracy on real data).

    Parameters
    ----------
    logits, prior_logits : Tensor
        (B, C, *spatial): the network being trained and the frozen starting model, on the
        same (augmented) batch; a single channel is a sigmoid foreground logit.
    target : Tensor
        (B, *spatial) long; pixels with ``target >= 0`` are labeled and not counted.

    Returns
    -------
    Tensor
        Scalar mean KL(prior || network) per unlabeled pixel (0 when all are labeled).
    """
    log_q = torch.log_softmax(_two_class_logits(logits.float()), dim=1)
    log_p = torch.log_softmax(_two_class_logits(prior_logits.float()), dim=1)
    kl = (log_p.exp() * (log_p - log_q)).sum(1)
    free = target < 0
    return (kl * free).sum() / free.sum().clamp_min(1)


def hard_dice_counts(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-class counts of the hard (argmax) prediction over labeled pixels.

    Parameters
    ----------
    logits : Tensor
        (B, C, *spatial); a single channel is a sigmoid foreground logit.
    target : Tensor
        (B, *spatial) long, class index or -1 (ignored).

    Returns
    -------
    Tensor
        (C_eff, 3) float64: true positives, predicted and true pixels per class; sums over
        batches combine, :func:`dice_from_counts` turns them into a Dice.
    """
    logits = _two_class_logits(logits.float())
    n_cls = logits.shape[1]
    pred = logits.argmax(1)
    mask = target >= 0
    p = F.one_hot(pred, n_cls)[mask].sum(0)
    t = F.one_hot(target.clamp_min(0), n_cls)[mask].sum(0)
    tp = F.one_hot(pred, n_cls)[mask & (pred == target)].sum(0)
    return torch.stack([tp, p, t], dim=1).double()


def dice_from_counts(counts: torch.Tensor) -> float | None:
    """Mean Dice over the foreground classes present in the targets.

    Parameters
    ----------
    counts : Tensor
        (C_eff, 3): true positives, predicted and true pixels per class (class 0 is
        background), e.g. from :func:`hard_dice_counts`.

    Returns
    -------
    float or None
        The mean Dice, None when no foreground class is present.
    """
    tp, p, t = counts[1:, 0], counts[1:, 1], counts[1:, 2]
    present = t > 0
    if not present.any():
        return None
    return float((2 * tp[present] / (p[present] + t[present])).mean())
