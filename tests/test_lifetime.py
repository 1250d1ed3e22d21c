"""Every Vulkan handle has one owner and is released once, whatever the order in
which Python lets go of objects; nothing done after a destroy can crash."""

import gc
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import kp
from conftest import MULTIPLY_GLSL, child_env, examples, run, slow_algorithm



def handles():
    """Live handles after a collection; the process's instance, which kp keeps
    until exit, is made first so that it is counted on both sides."""
    kp.vk.shared_instance()
    gc.collect()
    return kp.vk.live_handles()


def make_everything(mgr):
    """One of each kind of object, used once: what a program typically holds."""
    a, b = mgr.tensor([1, 2, 3]), mgr.tensor([4, 5, 6], kp.MemoryTypes.host)
    out = mgr.tensor([0, 0, 0])
    storage = mgr.tensor([0, 0, 0], kp.MemoryTypes.storage)
    algo = mgr.algorithm([a, b, out], MULTIPLY_GLSL)
    seq = mgr.sequence(total_timestamps=4)
    seq.record(kp.OpSyncDevice([a, b])).record(kp.OpAlgoDispatch(algo)).record(kp.OpCopy([out, storage])) \
        .record(kp.OpSyncLocal([out])).eval()
    assert out.data().tolist() == [4, 10, 18]
    return {"a": a, "b": b, "out": out, "storage": storage, "algo": algo, "seq": seq, "view": out.data()}


def test_live_handles_counts_what_a_manager_holds(memory_mode):
    before = handles()
    mgr = kp.Manager()
    objects = make_everything(mgr)
    during = kp.vk.live_handles()
    assert during.get("VkDevice", 0) == before.get("VkDevice", 0) + 1
    assert during.get("VkPipeline", 0) > before.get("VkPipeline", 0)
    assert during.get("VkCommandPool", 0) > before.get("VkCommandPool", 0)
    mgr.destroy()
    del mgr, objects
    assert handles() == before


def test_handles_are_released_without_destroy(memory_mode):
    before = handles()
    mgr = kp.Manager()
    objects = make_everything(mgr)
    del mgr, objects
    assert handles() == before


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(["mgr", "a", "b", "out", "storage", "algo", "seq", "view"]),
       destroy_first=st.booleans())
def test_any_release_order(memory_mode, order, destroy_first):
    before = handles()
    objects = {"mgr": kp.Manager()}
    objects.update(make_everything(objects["mgr"]))
    if destroy_first:
        objects["mgr"].destroy()
    for name in order:
        del objects[name]
        gc.collect()
    assert handles() == before


def test_destroying_a_large_tensor_frees_its_memory(any_mgr):
    baseline = handles().get("VkDeviceMemory", 0)
    tensors = [any_mgr.tensor(np.zeros(20_000_000)) for _ in range(2)]
    assert handles().get("VkDeviceMemory", 0) > baseline
    for t in tensors:
        t.destroy()
    del tensors, t
    assert handles().get("VkDeviceMemory", 0) == baseline


def test_views_stay_readable_after_manager_destroy(any_mgr):
    t = any_mgr.tensor([1, 2, 3])
    other = any_mgr.tensor_t(np.arange(4, dtype=np.int64), kp.MemoryTypes.host)
    view, other_view = t.data(), other.data()
    any_mgr.destroy()
    del t, other
    gc.collect()
    assert view.tolist() == [1, 2, 3]
    assert other_view.tolist() == [0, 1, 2, 3]
    assert view.base.is_init() is False  # the base answers for its tensor, as in Kompute


def test_destroyed_objects_report_it(memory_mode):
    mgr = kp.Manager()
    objects = make_everything(mgr)
    mgr.destroy()
    assert not any(objects[name].is_init() for name in ("a", "b", "out", "storage", "algo", "seq"))
    assert objects["view"].tolist() == [4, 10, 18]
    for name in ("a", "b", "out", "storage", "algo"):
        objects[name].destroy()  # a second destroy is harmless
    with pytest.raises(kp.DestroyedError):
        objects["seq"].eval()
    with pytest.raises(kp.DestroyedError):
        objects["seq"].get_timestamps()


def test_manager_destroy_waits_for_running_work():
    before = handles()
    mgr = kp.Manager()
    a = mgr.tensor(np.zeros(4096), kp.MemoryTypes.host)
    view = a.data()
    seq = mgr.sequence().record(kp.OpAlgoDispatch(slow_algorithm(mgr, a)))
    seq.eval_async()
    mgr.destroy()
    assert view[0] > 50_000
    del mgr, a, seq, view  # the view held the memory (and so the device) until now
    assert handles() == before


def test_dropping_a_running_sequence_lets_its_work_finish(memory_mode):
    before = handles()
    mgr = kp.Manager()
    a = mgr.tensor(np.zeros(4096), kp.MemoryTypes.host)
    mgr.sequence().record(kp.OpAlgoDispatch(slow_algorithm(mgr, a))).eval_async()
    gc.collect()  # the sequence is gone; its command buffer must not be freed mid-flight
    run(mgr, kp.OpSyncDevice([a]))  # runs after the dropped sequence's work on the queue
    assert a.data()[0] > 50_000
    mgr.destroy()
    del mgr, a
    assert handles() == before


@pytest.mark.parametrize("ending", ["", "mgr.destroy()", "del mgr", "del a, algo", "seq.eval_async()"])
def test_interpreter_exit_in_any_state(memory_mode, ending):
    code = f"""
        import numpy as np, kp
        kp.log_level(3)
        mgr = kp.Manager()
        a = mgr.tensor(np.zeros(64))
        algo = mgr.algorithm([a], {MULTIPLY_GLSL!r}.replace("binding = 1", "binding = 0")
                                                   .replace("binding = 2", "binding = 0"))
        seq = mgr.sequence().record(kp.OpSyncDevice([a])).record(kp.OpAlgoDispatch(algo))
        view = a.data()
        {ending}
    """
    env = child_env(KP_VALIDATION="1")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Validation" not in result.stderr, result.stderr
