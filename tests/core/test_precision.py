"""precision='auto': reduced precision only where a calibration check shows it is safe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_unetseg.api import drain
from napari_unetseg.core import devices as dev
from napari_unetseg.core import precision as P
from napari_unetseg.core.bundle import ModelBundle
from napari_unetseg.core.inference import predict_tiled

CPU = torch.device("cpu")


def _model(seed: int = 0) -> ModelBundle:
    torch.manual_seed(seed)
    return ModelBundle.create(spatial_dims=2, n_classes=2, base_channels=8, depth=2)


def _tied(bundle: ModelBundle) -> ModelBundle:
    """Class 1 wins by 2e-5 of its logit: bf16 rounding erases the difference."""
    last = [m for m in bundle.network.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.mul_(1e-4)
        last.bias.copy_(torch.tensor([50.0, 50.001]))
    return bundle


def test_auto_uses_bf16_on_a_cpu_with_native_bf16_when_labels_agree() -> None:
    P.clear_cache()
    choice = P.choose_precision(_model(), CPU, "auto")
    if dev.cpu_has_native_bf16():
        assert choice.name == "bf16"
        assert choice.agreement >= P.MIN_AGREEMENT
        assert "agree with fp32" in choice.reason
    else:
        assert choice.name == "fp32" and choice.agreement is None


def test_auto_falls_back_to_fp32_when_reduced_precision_changes_the_labels() -> None:
    bundle = _tied(_model(1))
    choice = P.choose_precision(bundle, CPU, "auto")
    assert choice.name == "fp32"
    if dev.cpu_has_native_bf16():  # the check ran and failed
        assert choice.agreement < P.MIN_AGREEMENT
        assert "below" in choice.reason
    result = drain(predict_tiled(bundle, np.random.default_rng(0).random((64, 64))))
    assert result.stats["precision"] == "fp32"


def test_the_check_is_cached_per_weights_and_explicit_choices_are_kept() -> None:
    P.clear_cache()
    a = _model(2)
    first = P.choose_precision(a, CPU, "auto")
    again = P.choose_precision(a.copy(), CPU, "auto")
    assert again == first
    if dev.cpu_has_native_bf16():  # same weights: the check ran once, its answer is cached
        assert again is first
    assert len(P._CACHE) == (1 if dev.cpu_has_native_bf16() else 0)
    assert P.choose_precision(a, CPU, "fp32").dtype is None
    assert P.choose_precision(a, CPU, "bf16").dtype is torch.bfloat16
    assert P.weights_fingerprint(a.network) != P.weights_fingerprint(_model(3).network)


def test_a_new_process_reads_the_check_from_disk(monkeypatch) -> None:
    """Each `unetseg predict` is a new process, which spent about a second on the check
    again (perf bug bash): the answer is kept on disk, per weights, device and machine."""
    P.clear_cache()
    a = _model(5)
    first = P.choose_precision(a, CPU, "auto")
    if not dev.cpu_has_native_bf16():  # nothing to check on this CPU: nothing kept
        assert first.name == "fp32"
        return
    P._CACHE.clear()  # as in a new process

    def no_check(*args, **kwargs):
        raise AssertionError("the check ran again")

    monkeypatch.setattr(P, "check_agreement", no_check)
    assert P.choose_precision(a, CPU, "auto") == first
    other = _model(6)  # other weights: checked
    with pytest.raises(AssertionError, match="ran again"):
        P.choose_precision(other, CPU, "auto")
    P._disk_file().write_text("{damaged")  # a damaged cache file: checked again
    P._CACHE.clear()
    with pytest.raises(AssertionError, match="ran again"):
        P.choose_precision(a, CPU, "auto")


def test_prediction_says_which_precision_ran() -> None:
    bundle = _model(4)
    image = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    auto = drain(predict_tiled(bundle, image))
    fp32 = drain(predict_tiled(bundle, image, precision="fp32"))
    assert auto.stats["precision"] == P.choose_precision(bundle, CPU).name
    assert auto.stats["precision_reason"]
    assert fp32.stats["precision"] == "fp32"
    assert (auto.labels == fp32.labels).mean() >= 0.99


def test_on_cuda_auto_keeps_fp32_where_the_reduced_precision_is_not_faster() -> None:
    # The rule the timed check feeds (check_speed times both on a CUDA device; the H200
    # figures are in docs/benchmarks.md, "On a GPU").
    cuda = torch.device("cuda:0")
    slower = P.decide(torch.bfloat16, cuda, 0.9999, times=(0.0018, 0.0023))
    assert slower.dtype is None
    assert (
        slower.reason
        == "fp32 (auto: bf16 was not faster on cuda:0: 2.3 ms against 1.8 ms per batch)"
    )
    barely = P.decide(torch.bfloat16, cuda, 0.9999, times=(0.0020, 0.0019))  # 5 % is noise
    assert barely.dtype is None
    faster = P.decide(torch.float16, cuda, 0.9999, times=(0.0030, 0.0015))
    assert faster.dtype is torch.float16 and "2.00x faster" in faster.reason
    # agreement is checked first: a faster precision that changes the labels is not used
    assert P.decide(torch.bfloat16, cuda, 0.99, times=(0.003, 0.001)).dtype is None
    # off CUDA nothing is timed
    assert P.check_speed(_model(5), CPU, torch.bfloat16) is None
    assert P.decide(torch.bfloat16, CPU, 0.9999).reason.endswith("agree with fp32)")
