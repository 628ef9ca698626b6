"""Third-party-style bioimage.io packages for the tests, built with bioimageio.spec.

Their test tensors are computed here with plain numpy/torch (the package author's view),
never with napari-unetseg, so importing them checks our pipeline against an independent one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from bioimageio.spec import save_bioimageio_package
from bioimageio.spec.model import v0_5 as bio
from torch import nn

AXIS_KIND = {"b": "batch", "c": "channel"}


def zero_mean_unit_variance(x: np.ndarray) -> np.ndarray:
    """bioimage.io's zero_mean_unit_variance over the whole sample (eps 1e-6)."""
    x = x.astype(np.float64)
    return ((x - x.mean()) / (x.std() + 1e-6)).astype(np.float32)


def scale_range(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """bioimage.io's scale_range over the whole sample (eps 1e-6)."""
    lo, hi = np.percentile(x.astype(np.float64), (low, high))
    return ((x - lo) / (hi - lo + 1e-6)).astype(np.float32)


class PixelThreshold(nn.Module):
    """A per-pixel 'segmenter' with shape rules and a corrupted border, like a real CNN.

    Foreground probability ``sigmoid(20 (x - 0.5))`` on (B, Z, Y, X) input without a
    channel axis. Sizes must be ``min + k * step`` (else it raises, as a strict network
    would), and the outer ``halo`` pixels of its output are inverted (a border effect
    that only a tiler respecting the halo hides).
    """

    def __init__(self, min_size: int, step: int, halo: int) -> None:
        super().__init__()
        self.min_size, self.step, self.halo = min_size, step, halo

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for s in x.shape[1:]:
            if s < self.min_size or (s - self.min_size) % self.step != 0:
                raise ValueError("input size breaks the model's size rule")
        p = torch.sigmoid(20.0 * (x - 0.5))
        h = self.halo
        inner = p[:, h:-h, h:-h, h:-h].clone()
        out = 1.0 - p
        out[:, h:-h, h:-h, h:-h] = inner
        return out


def build_package(
    folder: Path,
    module: nn.Module,
    raw: np.ndarray,
    expected: np.ndarray,
    *,
    input_axes: str,
    output_axes: str,
    min_size: int,
    step: int,
    preprocessing: list[Any],
    postprocessing: list[Any] = (),
    halo: int = 0,
    output_range: tuple[float | None, float | None] = (None, None),
    output_dtype: str = "float32",
    channel_names: list[str] | None = None,
    weights: str = "torchscript",
    name: str = "third party net",
) -> Path:
    """Write ``module`` (scripted) as a spec 0.5 package with the given test tensors."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "in.npy", raw)
    np.save(folder / "out.npy", expected)

    def axes(order: str, output: bool) -> list[Any]:
        out: list[Any] = []
        for letter in order:
            if letter == "b":
                out.append(bio.BatchAxis())
            elif letter == "c":
                names = channel_names if output else ["raw"]
                out.append(bio.ChannelAxis(channel_names=[bio.Identifier(n) for n in names]))
            elif output:
                ref = bio.SizeReference(tensor_id=bio.TensorId("raw"), axis_id=bio.AxisId(letter))
                cls = bio.SpaceOutputAxisWithHalo if halo else bio.SpaceOutputAxis
                out.append(
                    cls(id=bio.AxisId(letter), size=ref, **({"halo": halo} if halo else {}))
                )
            else:
                size = bio.ParameterizedSize(min=min_size, step=step) if step else min_size
                out.append(bio.SpaceInputAxis(id=bio.AxisId(letter), size=size))
        return out

    if weights == "torchscript":
        torch.jit.save(torch.jit.script(module), str(folder / "weights.pt"))
        entry = {
            "torchscript": bio.TorchscriptWeightsDescr(
                source=folder / "weights.pt", pytorch_version=bio.Version("2.13")
            )
        }
    elif weights == "pytorch_state_dict":
        torch.save(module.state_dict(), folder / "weights.pt")
        (folder / "arch.py").write_text("import torch\nclass Net(torch.nn.Module):\n    pass\n")
        entry = {
            "pytorch_state_dict": bio.PytorchStateDictWeightsDescr(
                source=folder / "weights.pt",
                pytorch_version=bio.Version("2.13"),
                architecture=bio.ArchitectureFromFileDescr(
                    source=folder / "arch.py", callable=bio.Identifier("Net")
                ),
            )
        }
    else:  # weights we cannot run
        (folder / "weights.onnx").write_bytes(b"not really onnx")
        entry = {"onnx": bio.OnnxWeightsDescr(source=folder / "weights.onnx", opset_version=17)}
    model = bio.ModelDescr(
        name=name,
        description="A third-party-style segmentation model for napari-unetseg's tests.",
        authors=[bio.Author(name="Test Author")],
        cite=[bio.CiteEntry(text="A paper", doi=bio.Doi("10.1007/978-3-319-24574-4_28"))],
        license=bio.LicenseId("MIT"),
        documentation=bio.FileDescr(source=_doc(folder)),
        inputs=[
            bio.InputTensorDescr(
                id=bio.TensorId("raw"),
                axes=axes(input_axes, False),
                test_tensor=bio.FileDescr(source=folder / "in.npy"),
                preprocessing=list(preprocessing),
            )
        ],
        outputs=[
            bio.OutputTensorDescr(
                id=bio.TensorId("prob"),
                axes=axes(output_axes, True),
                test_tensor=bio.FileDescr(source=folder / "out.npy"),
                data=(
                    bio.IntervalOrRatioDataDescr(type="float32", range=output_range)
                    if output_dtype == "float32"
                    else bio.NominalOrOrdinalDataDescr(type=output_dtype, values=[0, 1])
                ),
                postprocessing=list(postprocessing),
            )
        ],
        weights=bio.WeightsDescr(**entry),
    )
    return save_bioimageio_package(model, output_path=folder.with_suffix(".zip"))


def conv_package(folder: Path, test_output: Any = "softmax", **options: Any) -> Path:
    """A package of a 1x1 convolution (1 -> 2 channels) with a 16 x 16 test input.

    ``test_output`` is what the package claims for that input: ``"softmax"`` or
    ``"sigmoid"`` (the convolution's, declared as postprocessing unless ``options`` say
    otherwise), ``"raw"`` (the convolution's own output), ``"random"`` (numbers it does not
    reproduce) or an array. ``options`` go to :func:`build_package`.
    """
    module = nn.Conv2d(1, 2, 1)
    rng = np.random.default_rng(0)
    raw = rng.random((1, 1, 16, 16), np.float32)
    with torch.no_grad():
        scores = module(torch.from_numpy(raw))
    if isinstance(test_output, str) and test_output in ("softmax", "sigmoid"):
        act, descr = {"softmax": (torch.softmax, bio.SoftmaxDescr), "sigmoid": (
            lambda t, _: torch.sigmoid(t), bio.SigmoidDescr)}[test_output]  # fmt: skip
        expected = act(scores, 1).numpy()
        options = {"postprocessing": [descr()], **options}
    elif isinstance(test_output, str) and test_output == "raw":
        expected = scores.numpy()
    elif isinstance(test_output, str) and test_output == "random":
        expected = rng.random((1, 2, 16, 16), np.float32)
    else:
        expected = np.asarray(test_output)
    return build_package(
        folder, module, raw, expected, input_axes="bcyx", output_axes="bcyx", min_size=16,
        step=0, **{"channel_names": ["a", "b"], "preprocessing": [], **options},
    )  # fmt: skip


def _doc(folder: Path) -> Path:
    path = folder / "README.md"
    path.write_text("# Test model\n\n## Validation\n\nNone.\n")
    return path
