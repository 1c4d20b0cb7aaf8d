"""The neural lip-sync engine's throughput: ``python -m streamer.bench lipsync [--model M] [--device cpu|cuda]``.

Without ``--model`` it measures a network with Wav2Lip's architecture and random weights (built here with torch
and exported to ONNX in a temporary folder): the compute of a real Wav2Lip is in its shapes, not in its weight
values, so frames per second and time per batch are what the real model would give on the same device. Nothing
is downloaded. With ``--model`` it measures the operator's own model through the same loading code the show uses
(:class:`streamer.avatar.neural.NeuralLipSync`, with its shape checks).

The architecture (our own code, from the published layer shapes): a face encoder taking the 6-channel 96x96 input
down to 512x1x1 in seven stages (convolution, batch norm, ReLU, residual blocks); an audio encoder taking the
80x16 mel window to 512x1x1; a decoder of transposed convolutions back to 96x96 that concatenates each face stage
(skip connections); a sigmoid RGB output. About 36 M parameters at ``width`` 1.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from streamer.avatar.neural import FACE_PX, MEL_BANDS, MEL_STEPS, NeuralLipSync


def wav2lip_shaped(width: float = 1.0) -> Any:
    """The torch module (eval mode, random weights); ``width`` scales every channel count (tests use a sliver)."""
    import torch
    from torch import nn

    def ch(n: int) -> int:
        return max(4, round(n * width))

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, k: Any, s: Any, p: Any, *, residual: bool = False, up: bool = False):
            super().__init__()
            self.conv: nn.Module
            if up:
                self.conv = nn.ConvTranspose2d(cin, cout, k, s, p, output_padding=1 if s == 2 else 0)
            else:
                self.conv = nn.Conv2d(cin, cout, k, s, p)
            self.norm = nn.BatchNorm2d(cout)
            self.residual = residual

        def forward(self, x: Any) -> Any:
            y = self.norm(self.conv(x))
            return torch.relu(y + x if self.residual else y)

    def stage(cin: int, cout: int, k: Any, s: Any, p: Any, res: int, *, up: bool = False) -> Any:
        blocks = [Block(cin, cout, k, s, p, up=up)]
        blocks += [Block(cout, cout, 3, 1, 1, residual=True) for _ in range(res)]
        return nn.Sequential(*blocks)

    c16, c32, c64, c128, c256, c384, c512 = (ch(n) for n in (16, 32, 64, 128, 256, 384, 512))

    class Wav2LipShaped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.face = nn.ModuleList(
                [
                    stage(6, c16, 7, 1, 3, 0),  # 96
                    stage(c16, c32, 3, 2, 1, 2),  # 48
                    stage(c32, c64, 3, 2, 1, 3),  # 24
                    stage(c64, c128, 3, 2, 1, 2),  # 12
                    stage(c128, c256, 3, 2, 1, 2),  # 6
                    stage(c256, c512, 3, 2, 1, 1),  # 3
                    nn.Sequential(Block(c512, c512, 3, 1, 0), Block(c512, c512, 1, 1, 0)),  # 1
                ]
            )
            self.audio = nn.Sequential(
                stage(1, c32, 3, 1, 1, 2),  # 80x16
                stage(c32, c64, 3, (3, 1), 1, 2),  # 27x16
                stage(c64, c128, 3, 3, 1, 2),  # 9x6
                stage(c128, c256, 3, (3, 2), 1, 1),  # 3x3
                Block(c256, c512, 3, 1, 0),  # 1x1
                Block(c512, c512, 1, 1, 0),
            )
            self.decoder = nn.ModuleList(
                [
                    Block(c512, c512, 1, 1, 0),  # 1
                    stage(2 * c512, c512, 3, 1, 0, 1, up=True),  # 3
                    stage(2 * c512, c512, 3, 2, 1, 2, up=True),  # 6
                    stage(c512 + c256, c384, 3, 2, 1, 2, up=True),  # 12
                    stage(c384 + c128, c256, 3, 2, 1, 2, up=True),  # 24
                    stage(c256 + c64, c128, 3, 2, 1, 2, up=True),  # 48
                    stage(c128 + c32, c64, 3, 2, 1, 2, up=True),  # 96
                ]
            )
            self.out = nn.Sequential(Block(c64 + c16, c32, 3, 1, 1), nn.Conv2d(c32, 3, 1), nn.Sigmoid())

        def forward(self, mel: Any, face: Any) -> Any:
            skips = []
            x = face
            for s in self.face:
                x = s(x)
                skips.append(x)
            x = self.audio(mel)
            for d in self.decoder:
                x = torch.cat([d(x), skips.pop()], dim=1)
            return self.out(x)

    torch.manual_seed(0)
    return Wav2LipShaped().eval()


def export_wav2lip_shaped(path: Path, width: float = 1.0) -> Path:
    """The random-weight network as ONNX at ``path``, batch size free (Wav2Lip's input and output names)."""
    return export_lipsync_onnx(wav2lip_shaped(width), path)


def export_lipsync_onnx(model: Any, path: Path, *, face_channels: int = 6) -> Path:
    """A torch module ``forward(mel, face)`` as ONNX at ``path`` with Wav2Lip's names and a free batch size
    (``face_channels`` other than 6 gives a model with the wrong face input, for tests)."""
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(2, 1, MEL_BANDS, MEL_STEPS), torch.zeros(2, face_channels, FACE_PX, FACE_PX)),
            str(path),
            input_names=["mel", "face"],
            output_names=["out"],
            dynamic_axes={"mel": {0: "B"}, "face": {0: "B"}, "out": {0: "B"}},
            dynamo=False,
        )
    return path


def parameters(width: float = 1.0) -> int:
    return sum(p.numel() for p in wav2lip_shaped(width).parameters())


def bench(
    *, model: str | None, device: str, batches: list[int], seconds: float, width: float = 1.0, fps: int = 30
) -> dict[str, object]:
    """Time ``engine.infer`` for each batch size over about ``seconds`` each (after one warm-up call)."""
    with tempfile.TemporaryDirectory(prefix="livehost-lipsync-") as tmp:
        t0 = time.perf_counter()
        path = Path(model) if model else export_wav2lip_shaped(Path(tmp) / "wav2lip_shaped.onnx", width)
        export_s = time.perf_counter() - t0
        engine = NeuralLipSync(path, device=device)
        rng = np.random.default_rng(0)
        rows = []
        for b in batches:
            faces = rng.random((b, 6, FACE_PX, FACE_PX), dtype=np.float32)
            mels = rng.standard_normal((b, 1, MEL_BANDS, MEL_STEPS)).astype(np.float32)
            engine.infer(faces, mels)  # warm-up (CUDA: kernels and memory)
            times: list[float] = []
            start = time.perf_counter()
            while not times or (time.perf_counter() - start < seconds and len(times) < 1000):
                t = time.perf_counter()
                out = engine.infer(faces, mels)
                times.append(time.perf_counter() - t)
            assert out.shape == (b, 3, FACE_PX, FACE_PX)
            per_batch = statistics.median(times)
            rows.append(
                {
                    "batch": b,
                    "ms_per_batch_p50": round(per_batch * 1000, 2),
                    "ms_per_batch_max": round(max(times) * 1000, 2),
                    "frames_per_s": round(b / per_batch, 1),
                    "realtime_x": round(b / per_batch / fps, 2),
                    "calls": len(times),
                }
            )
        best = max(rows, key=lambda r: float(str(r["frames_per_s"])))
        return {
            "benchmark": "lipsync",
            "measured": "NeuralLipSync.infer on random faces and mel windows, per batch size (median of calls); "
            + ("the operator's model" if model else f"Wav2Lip's architecture with random weights, width {width}"),
            "model": str(path.name),
            "parameters": None if model else parameters(width),
            "device_asked": device,
            "device": engine.device,
            "export_s": None if model else round(export_s, 1),
            "by_batch": rows,
            "best_batch": best["batch"],
            "best_frames_per_s": best["frames_per_s"],
            "keeps_up_at_fps": fps if float(str(best["realtime_x"])) >= 1.0 else None,
            "cpu_count": os.cpu_count(),
        }


__all__ = ["bench", "export_lipsync_onnx", "export_wav2lip_shaped", "wav2lip_shaped"]
