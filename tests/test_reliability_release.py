"""One lifetime mechanism: whatever is destroyed or collected is released once the
GPU no longer uses it, never earlier and without waiting for unrelated work;
finalizers only put things on kp's release list, so garbage collection at any
point (inside kp's own locks too, in any thread) can never hang or crash."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kp
from conftest import child_env, slow_algorithm
from test_async import _two_queues

INCREMENT_GLSL = """
#version 450
layout(local_size_x = 1) in;
layout(push_constant) uniform P { float amount; };
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] += amount; }
"""


def run_child(code: str, timeout: float = 240) -> str:
    """Run ``code`` in a fresh interpreter; a hang fails the test instead of the suite."""
    try:
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=child_env(), text=True,
                                capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child interpreter hung (over {timeout} s)")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_tensors_in_reference_cycles_never_hang(memory_mode):
    out = run_child("""
        import gc, numpy as np, kp
        mgr = kp.Manager()
        for i in range(20000):
            t = mgr.tensor(np.zeros(16, np.float32))
            cyc = [t]; cyc.append(cyc)
        gc.collect()
        print(len(mgr.tensor([1, 2, 3]).data()))
    """)
    assert out.split() == ["3"]


def test_a_finalizer_run_while_a_range_goes_back_can_make_tensors(memory_mode):
    """A user's finalizer that makes a tensor of more than 4 KiB, run by a collection
    inside the allocator's return of a range to its block (under the block's lock),
    waits neither for that lock nor for the allocator's, which another thread making
    a tensor holds while it waits for the block; the collection is moved through
    kp's whole path by lowering the threshold one allocation at a time."""
    out = run_child("""
        import gc, sys, threading, time, numpy as np, kp
        mgr = kp.Manager()
        made, other, go = [], [], threading.Event()
        def make_tensors():
            while go.wait():
                go.clear()
                other.append(mgr.tensor(np.full(2000, len(other), np.float32)))
        threading.Thread(target=make_tensors, daemon=True).start()
        def returning():
            frame = sys._getframe(2)
            while frame is not None and frame.f_code.co_name != "give_back":
                frame = frame.f_back
            return frame is not None
        class MakesATensor:
            def __init__(self):
                self.cycle = self
            def __del__(self):
                if returning():  # the other thread gets to wait for this block's lock first
                    go.set()
                    time.sleep(0.1)
                made.append(mgr.tensor(np.full(2000, len(made), np.float32)))
        kept = [mgr.tensor(np.ones(2000, np.float32)) for _ in range(4)]
        for threshold in range(1, 400):
            gc.collect()
            kept.pop(0)  # its range waits to go back, at the next call into kp
            MakesATensor()
            gc.set_threshold(threshold)
            kept.append(mgr.tensor(np.ones(2000, np.float32)))
            gc.set_threshold(100000)
        time.sleep(0.1)
        gc.collect()
        print(len(made), len(other) > 0, all((t.data() == i).all() for made_here in (made, other) for i, t in enumerate(made_here)))
    """, timeout=60)
    assert out.split() == ["399", "True", "True"]


def test_seed_tensors_in_reference_cycles_never_hang(memory_mode):
    out = run_child("""
        import gc, kp
        mgr = kp.Manager()
        for i in range(5000):
            t = kp.Tensor([1.0, 2.0])
            mgr.eval_tensor_create_def([t])
            cyc = [t]; cyc.append(cyc)
        gc.collect()
        print(t.data())
    """)
    assert out.split() == ["[1.0,", "2.0]"]


def test_objects_of_every_kind_in_cycles_with_collection_everywhere_across_threads(memory_mode):
    # A tiny generation-0 threshold makes the collector run inside kp's own
    # critical sections (the allocator, recording, submission, the release list).
    out = run_child(f"""
        import gc, threading, numpy as np, kp
        gc.set_threshold(20, 2, 2)
        spirv = kp.shader.compile_source({INCREMENT_GLSL!r})
        shared = kp.Manager()
        errors = []

        def cyclic(obj):
            cycle = {{"obj": obj}}
            cycle["self"] = cycle
            return obj

        def work(seed, own):
            try:
                rng = np.random.default_rng(seed)
                for round_ in range(150):
                    mgr = own.pop() if round_ % 40 == 0 else shared
                    x = rng.random(33).astype(np.float32)
                    t = cyclic(mgr.tensor(x, kp.MemoryTypes(round_ % 4)))
                    algo = cyclic(mgr.algorithm([t], spirv, push_consts=[1.0]))
                    seq = cyclic(mgr.sequence())
                    seq.record(kp.OpSyncDevice([t])).record(kp.OpAlgoDispatch(algo, [2.0]))
                    if t.memory_type() != kp.MemoryTypes.storage:
                        seq.record(kp.OpSyncLocal([t]))
                    seq.eval_async() if round_ % 2 else seq.eval()
                    seq.eval_await()
                    if t.memory_type() != kp.MemoryTypes.storage:
                        assert np.array_equal(t.data(), x + 2), (t.data(), x + 2)
                    seed_tensor = cyclic(kp.Tensor([float(round_)]))
                    mgr.eval_tensor_create_def([seed_tensor])
                    if round_ % 5 == 0:
                        for obj in (seq, algo, t):
                            obj.destroy()
            except BaseException as exc:
                errors.append(repr(exc))

        # Each thread gets managers of its own, in cycles, to drop while the others
        # work. They are made here: lavapipe (Mesa 22.3) crashed about 1 run in 20
        # when threads created devices while others waited on fences, and NVIDIA
        # refuses new devices past a few dozen alive.
        threads = [threading.Thread(target=work, args=(i, [cyclic(kp.Manager()) for _ in range(4)]))
                   for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        shared.destroy()
        del shared
        gc.collect()
        print(sorted(kp.vk.live_handles().items()), kp.vk.take_validation_messages())
    """)
    assert out.strip() == "[('VkInstance', 1)] []"


def test_destroying_unused_objects_does_not_wait_for_unrelated_work(any_mgr):
    busy = any_mgr.tensor(np.zeros(4096))
    running = any_mgr.sequence().record(kp.OpAlgoDispatch(slow_algorithm(any_mgr, busy)))
    unused = any_mgr.tensor([1, 2, 3])
    algorithm = any_mgr.algorithm([unused], INCREMENT_GLSL, push_consts=[1.0])
    recorded = any_mgr.sequence().record(kp.OpAlgoDispatch(algorithm))
    running.eval_async()
    for obj in (recorded, algorithm, unused):
        obj.destroy()
    with pytest.raises(kp.WaitTimeoutError):  # the slow work is still running: nothing waited for it
        running.eval_await(0)
    running.eval_await()


def test_what_a_running_sequence_uses_is_released_only_after_it(any_mgr):
    a = any_mgr.tensor(np.zeros(4096), kp.MemoryTypes.host)
    running = any_mgr.sequence().record(kp.OpAlgoDispatch(slow_algorithm(any_mgr, a)))
    running.eval_async()
    running.destroy()
    del a, running  # the sequence, its algorithm and the tensor are all gone, the work is not
    assert kp.vk.pending_releases() > 0
    fresh = [any_mgr.tensor(np.full(4096, 7.0), kp.MemoryTypes.host) for _ in range(4)]
    any_mgr.sequence().eval(kp.OpSyncDevice(fresh))  # waits for the queue, the slow dispatch first
    assert all(np.all(t.data() == 7.0) for t in fresh)  # none of them received a's memory
    kp.vk.drain()
    assert kp.vk.pending_releases() == 0


def test_a_destroy_between_check_and_record_is_never_missed(any_mgr):
    # What a destroy() from another thread between the op's check and the end of
    # its recording did: the recording kept the destroyed tensor's range, which a
    # new tensor then received, and the old sequence added 1000 to it.
    victim = any_mgr.tensor(np.zeros(8), kp.MemoryTypes.host)

    class DestroyedWhileRecording(kp.OpAlgoDispatch):
        def record(self, commands):
            super().record(commands)
            victim.destroy()

    add = any_mgr.algorithm([victim], INCREMENT_GLSL, push_consts=[1000.0])
    seq = any_mgr.sequence().record(DestroyedWhileRecording(add))
    newcomers = [any_mgr.tensor(np.zeros(8), kp.MemoryTypes.host) for _ in range(4)]
    with pytest.raises(kp.DestroyedError):
        seq.eval()
    assert all(t.data().tolist() == [0] * 8 for t in newcomers)


def test_after_a_destroyed_error_every_later_eval_raises(any_mgr):
    t = any_mgr.tensor([1, 2, 3])
    seq = any_mgr.sequence().record(kp.OpSyncDevice([t])).record(
        kp.OpAlgoDispatch(any_mgr.algorithm([t], INCREMENT_GLSL, push_consts=[1.0])))
    seq.eval()
    t.destroy()
    for _ in range(3):
        with pytest.raises(kp.DestroyedError):
            seq.eval()
    seq.clear()
    fresh = any_mgr.tensor([5, 6])
    seq.record(kp.OpSyncDevice([fresh])).record(kp.OpSyncLocal([fresh])).eval()
    assert fresh.data().tolist() == [5, 6]


def test_a_tensor_moves_to_another_queue_after_its_sequence_is_destroyed(memory_mode):
    mgr = kp.Manager(0, _two_queues())
    try:
        t = mgr.tensor(np.zeros(64))
        add = mgr.algorithm([t], INCREMENT_GLSL, push_consts=[1.0])
        first = mgr.sequence(0).record(kp.OpSyncDevice([t])).record(kp.OpAlgoDispatch(add))
        first.eval()
        first.destroy()
        mgr.sequence(1).record(kp.OpAlgoDispatch(add)).record(kp.OpSyncLocal([t])).eval()
        assert t.data().tolist() == [2] * 64
    finally:
        mgr.destroy()
