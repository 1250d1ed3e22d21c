"""A small user program over kp's public API, both generations, written to pass
``mypy --strict``: test_typing checks it (so users of the typed API get clean
checks) and runs it (so it stays a real program)."""

from __future__ import annotations

from typing import no_type_check

import numpy as np
import numpy.typing as npt

import kp
from kp.shader import Array, Image2D, f32, ivec3, python2shader

DOUBLE_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer In { float x[]; };
layout(set = 0, binding = 1) buffer Out { float y[]; };
void main() { y[gl_GlobalInvocationID.x] = 2.0 * x[gl_GlobalInvocationID.x]; }
"""


# A shader's body is shader code, not Python a type checker understands: no_type_check
# leaves it to python2shader.
@python2shader(local_size=(1, 1, 1))
@no_type_check
def scale(index=("input", "GlobalInvocationId", ivec3), data=("buffer", 0, Array(f32)),
          factor=("push_constant", 0, f32)):
    data[index.x] = data[index.x] * factor


@python2shader
@no_type_check
def copy_image(index=("input", "GlobalInvocationId", ivec3), src=("image", 0, Image2D("r32f")),
               dst=("image", 1, Image2D("r32f"))):
    dst[index.xy] = src[index.xy]


def current_api(mgr: kp.Manager) -> npt.NDArray[np.float32]:
    """mgr.tensor / tensor_t / image, algorithms, sequences and the Op classes."""
    a = mgr.tensor([1.0, 2.0, 3.0])
    b = mgr.tensor_t(np.array([4, 5, 6], dtype=np.int32), kp.MemoryTypes.device)
    out = mgr.tensor(np.zeros(3))
    multiply = mgr.algorithm()
    mgr.sequence().record(kp.OpSyncDevice([a])).record(kp.OpMult([a, a, out], multiply)) \
        .record(kp.OpMemoryBarrier([out], kp.AccessFlags.shader_write, kp.AccessFlags.transfer_read,
                                   kp.PipelineStages.compute_shader, kp.PipelineStages.transfer)) \
        .record(kp.OpSyncLocal([out])).eval()
    squares: npt.NDArray[np.float32] = out.numpy()

    algorithm = mgr.algorithm([a], scale.to_spirv(), workgroup=(3, 1, 1), push_consts=[10.0])
    sequence = mgr.sequence()
    sequence.record(kp.OpSyncDevice([a])).record(kp.OpAlgoDispatch(algorithm, push_consts=[2.0]))
    sequence.record(kp.OpSyncLocal([a])).eval_async().eval_await()
    assert algorithm.get_workgroup() == (3, 1, 1) and a.size() == 3 and b.data_type() == kp.DataTypes.int

    images: list[kp.Image] = [mgr.image(np.arange(4.0), 2, 2, 1), mgr.image_t(np.zeros(4, np.float32), 2, 2, 1)]
    copied = mgr.algorithm(images, copy_image.to_spirv(), workgroup=(2, 2, 1))
    mgr.sequence().eval(kp.OpSyncDevice(images)).eval(kp.OpAlgoDispatch(copied)) \
        .eval(kp.OpCopy([images[1], mgr.tensor(np.zeros(4))])).eval(kp.OpSyncLocal(images))
    memory: list[kp.Memory] = [a, *images]
    assert all(m.is_init() for m in memory) and images[1].get_width() == 2
    moved: kp.Image = images[1].to(mgr)
    texels: npt.NDArray[np.float32] = moved.numpy()
    assert texels.shape == (2, 2, 1) and a.to(mgr, kp.MemoryTypes.host).numpy().tolist() == a.numpy().tolist()
    return squares


def seed_api(mgr: kp.Manager) -> list[float]:
    """kp.Tensor, mgr.eval_*_def, named sequences and seq.record_*."""
    x, y = kp.Tensor([1.0, 2.0, 3.0]), kp.Tensor([0.0, 0.0, 0.0])
    mgr.eval_tensor_create_def([x, y])
    mgr.eval_algo_str_def([x, y], DOUBLE_GLSL)
    mgr.eval_tensor_sync_local_def([y])
    sequence = mgr.create_sequence("double")
    sequence.begin()
    sequence.record_tensor_sync_device([x])
    sequence.record_algo_data([x, y], kp.shader.compile_source(DOUBLE_GLSL))
    sequence.record_tensor_sync_local([y])
    sequence.end()
    sequence.eval()
    mgr.eval_async_tensor_sync_local([y], "double")
    mgr.eval_await("double")
    doubled: list[float] = y.data()
    return doubled


def main() -> None:
    devices = kp.list_devices()
    with kp.Manager(devices[0]["index"]) as mgr:
        np.testing.assert_allclose(current_api(mgr), [1.0, 4.0, 9.0])
        assert seed_api(mgr) == [2.0, 4.0, 6.0]


if __name__ == "__main__":
    main()
