"""Ownership: a recording holds what it binds until it is recorded again or
destroyed, so a replay never writes into another tensor's memory; destroy() frees
memory at once whatever recordings use it (they then raise); public methods called
from finalizers, signal handlers, other threads and forked children neither hang
nor lose work."""

import gc
import itertools
import os
import signal
import textwrap
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import kp

from conftest import child_env, examples, run_python, slow_algorithm

WRITE_42 = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] = 42.0; }
"""


def device_memory_blocks() -> int:
    return kp.vk.live_handles().get("VkDeviceMemory", 0)


def assert_a_replay_leaves_new_tensors_alone(mgr, seq, size):
    """New tensors, made where collected ones were, keep their numbers through ``seq``."""
    victims = [mgr.tensor([7.0] * size) for _ in range(8)]
    mgr.sequence().eval(kp.OpSyncDevice(victims))
    seq.eval()
    mgr.sequence().eval(kp.OpSyncLocal(victims))
    for victim in victims:
        assert victim.data().tolist() == [7.0] * size


# -- a recording owns what it binds ------------------------------------------------------
def test_a_replay_after_rebuild_and_collection_writes_only_its_own_memory(mgr):
    a, b = mgr.tensor([0.0] * 4), mgr.tensor([0.0] * 4)
    algo = mgr.algorithm([a], WRITE_42)
    seq = mgr.sequence().record(kp.OpAlgoDispatch(algo)).eval()
    algo.rebuild([b], WRITE_42)
    del a
    gc.collect()
    assert_a_replay_leaves_new_tensors_alone(mgr, seq, 4)
    assert b.data().tolist() == [0.0] * 4  # the rebuilt algorithm was not dispatched


def test_two_opmults_sharing_an_algorithm_keep_the_first_ones_memory(mgr):
    algo = mgr.algorithm()
    first = [mgr.tensor([2.0] * 8), mgr.tensor([3.0] * 8), mgr.tensor([0.0] * 8)]
    seq = mgr.sequence().record(kp.OpSyncDevice(first)).record(kp.OpMult(first, algo)).eval()
    second = [mgr.tensor([1.0] * 8) for _ in range(3)]
    mgr.sequence().eval(kp.OpMult(second, algo))
    del first
    gc.collect()
    assert_a_replay_leaves_new_tensors_alone(mgr, seq, 8)


def test_a_recording_holds_its_memory_until_recorded_again(mgr):
    small = [mgr.tensor([1.0]), mgr.tensor([1.0])]  # the shared blocks small tensors use
    before = device_memory_blocks()
    big = mgr.tensor(np.zeros(24 << 20, np.float32))  # 96 MiB: blocks of its own
    seq = mgr.sequence().record(kp.OpAlgoDispatch(mgr.algorithm([big], WRITE_42, workgroup=[4])))
    del big
    gc.collect()
    assert device_memory_blocks() > before  # still bound by the recording
    seq.record(kp.OpSyncDevice([small[0]]))  # still the same recording
    seq.eval()
    seq.eval(kp.OpSyncDevice([small[1]]))  # a new recording: the old one's memory goes
    gc.collect()
    assert device_memory_blocks() == before


@pytest.mark.parametrize("clear", [False, True])
def test_destroy_frees_memory_that_an_idle_recording_uses(mgr, clear):
    before = device_memory_blocks()
    big = mgr.tensor(np.zeros(24 << 20, np.float32))
    algo = mgr.algorithm([big], WRITE_42, workgroup=[4])
    seq = mgr.sequence().record(kp.OpSyncDevice([big])).record(kp.OpAlgoDispatch(algo)).eval()
    if clear:
        seq.clear()
    big.destroy()
    del big
    gc.collect()
    assert device_memory_blocks() == before
    with pytest.raises(kp.DestroyedError):
        seq.eval()


def test_destroy_keeps_the_host_copy_while_a_view_lives(mgr):
    big = mgr.tensor(np.full(24 << 20, 5.0, np.float32))
    view = big.data()
    seq = mgr.sequence().record(kp.OpSyncLocal([big]))
    before = device_memory_blocks()
    big.destroy()
    del big
    gc.collect()
    assert view[:3].tolist() == [5.0, 5.0, 5.0] and view[-1] == 5.0
    del view
    gc.collect()
    assert device_memory_blocks() < before
    with pytest.raises(kp.DestroyedError):
        seq.eval()


def test_blocks_that_small_tensors_filled_and_left_are_freed_when_a_larger_tensor_needs_a_block(mgr, monkeypatch):
    # Small tensors' ranges are slots that stay in their size class: blocks they filled
    # and left can hold no larger range, and are let go when one needs a new block.
    monkeypatch.setattr(kp.vk.memory, "BLOCK_SIZE", 64 << 10)  # filled by 1,024 tensors of 16 floats
    before = device_memory_blocks()
    small = [mgr.tensor(np.zeros(16, np.float32)) for _ in range(3000)]
    assert device_memory_blocks() - before >= 3
    del small
    gc.collect()
    larger = mgr.tensor(np.full(2048, 3.0, np.float32))  # 8 KiB: no slot
    assert device_memory_blocks() - before == len(larger.allocations())  # its new block(s) only
    assert larger.data().tolist() == [3.0] * 2048


# -- destroy during a build or an evaluation --------------------------------------------
class _DestroyingWorkgroup:
    """A workgroup that destroys a tensor while the algorithm reads it: a thread
    destroying it at that moment, made deterministic."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __iter__(self):
        self.tensor.destroy()
        return iter([4])


def test_a_tensor_destroyed_while_its_algorithm_is_built_is_a_destroyed_error(mgr):
    t = mgr.tensor([1.0] * 4)
    with pytest.raises(kp.DestroyedError):
        mgr.algorithm([t], WRITE_42, workgroup=_DestroyingWorkgroup(t))
    assert kp.vk.live_handles().get("VkPipeline", 0) == 0


INCREMENT = """
#version 450
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() { a[gl_GlobalInvocationID.x] += 1.0; }
"""


def slow_round_trip(mgr):
    """A sequence that takes a while (six slow dispatches), then counts its evaluations
    in the tensor it returns (the slow ones converge: their numbers repeat)."""
    t, count = mgr.tensor(np.zeros(64 * 64, np.float32)), mgr.tensor([0.0])
    algo = slow_algorithm(mgr, t)
    seq = mgr.sequence().record(kp.OpSyncDevice([t, count]))
    for _ in range(6):
        seq.record(kp.OpAlgoDispatch(algo))
    seq.record(kp.OpAlgoDispatch(mgr.algorithm([count], INCREMENT)))
    return count, seq.record(kp.OpSyncLocal([t, count]))


def test_destroy_of_an_evaluating_sequence_does_not_wait_and_await_still_does(mgr):
    count, seq = slow_round_trip(mgr)
    seq.eval()
    seq.eval_async()
    seq.destroy()
    seq.eval_await()
    assert count.data().tolist() == [2.0]  # the second evaluation's results are in
    time.sleep(0.05)
    assert count.data().tolist() == [2.0]  # and nothing writes any more


def test_await_wait_after_destroy_waits(mgr):
    import asyncio

    count, seq = slow_round_trip(mgr)
    seq.eval_async()
    seq.destroy()
    asyncio.run(seq.wait())
    assert count.data().tolist() == [1.0]
    time.sleep(0.05)
    assert count.data().tolist() == [1.0]


def test_no_call_waits_for_another_threads_evaluation(mgr):
    t = mgr.tensor(np.zeros(64 * 64, np.float32))
    algo = slow_algorithm(mgr, t)
    seq = mgr.sequence()
    for _ in range(12):
        seq.record(kp.OpAlgoDispatch(algo))
    seq.eval()  # compiled and warm
    start = time.perf_counter()
    seq.eval()
    once = time.perf_counter() - start
    worker = threading.Thread(target=seq.eval)
    worker.start()
    while not seq.is_running():
        time.sleep(0.001)
    start = time.perf_counter()
    with pytest.raises(kp.WaitTimeoutError):
        seq.eval_await(1000)
    assert time.perf_counter() - start < once / 3
    start = time.perf_counter()
    seq.destroy()
    assert time.perf_counter() - start < once / 3
    worker.join()


# -- finalizers, signals and forks: each in a child interpreter with a time limit --------------
def run_child(code: str, memory_mode: str, timeout: float = 120) -> str:
    result = run_python(textwrap.dedent(code), timeout,
                        child_env(KP_DISABLE_UMA="1" if memory_mode == "staging" else "0"))
    assert result.returncode == 0, f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Vulkan validation" not in result.stderr, result.stderr
    return result.stdout


def test_a_child_interpreter_leaves_no_process_it_forked_running():
    # a forked process that let go of the output pipes outlived a child that returned
    out = run_python(textwrap.dedent("""
        import os, time
        pid = os.fork()
        if pid == 0:
            os.close(1)
            os.close(2)
            time.sleep(120)
            os._exit(0)
        print(pid)
        """), 60, child_env())
    left = int(out.stdout)
    for _ in range(100):  # until its new parent reaps it
        try:
            with open(f"/proc/{left}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        os.kill(left, signal.SIGKILL)
        pytest.fail("run_python left a forked process running")


def test_public_methods_called_from_finalizers_inside_kp_neither_hang_nor_corrupt(memory_mode):
    out = run_child("""
        import gc, weakref
        import numpy as np
        import kp
        mgr = kp.Manager()
        calls = []

        class Holder:
            # a cycle, so that only a collection (inside any allocation) finds it
            def __init__(self, tensor, seq):
                self.me, self.tensor, self.seq = self, tensor, seq
            def __del__(self):
                self.tensor.destroy()
                self.seq.destroy()
                made = mgr.tensor([1.0, 2.0])  # a public method that allocates
                mgr.sequence().eval(kp.OpSyncDevice([made]))
                calls.append(made.data().tolist())

        # Holders reach the oldest generation while kept, then are dropped a few at a
        # time: the rare full collections find them at any allocation, kp's own
        # (inside a block's take) among them.
        gc.set_threshold(1, 1, 40)
        kept, keep = [], []
        for i in range(1500):
            kept.append(Holder(mgr.tensor([0.0] * 4, kp.MemoryTypes.storage), mgr.sequence()))
            other = mgr.tensor([3.0] * 4, kp.MemoryTypes.storage)
            weakref.finalize(kept[-1], other.destroy)
            if len(kept) > 20:
                del kept[:2]
            t = mgr.tensor(np.full(16, float(i), np.float32))
            mgr.sequence().record(kp.OpSyncDevice([t])).record(kp.OpSyncLocal([t])).eval()
            if i % 50 == 0:
                keep.append((i, t))
        gc.set_threshold(700, 10, 10)
        del kept
        gc.collect()
        kp.vk.drain()
        assert all(t.data().tolist() == [float(i)] * 16 for i, t in keep)
        assert calls and all(c == [1.0, 2.0] for c in calls)
        print(len(calls))
        """, memory_mode, timeout=240)
    assert int(out) > 100


def test_ctrl_c_during_evaluations_leaves_every_submission_tracked(memory_mode):
    run_child("""
        import signal, time
        import numpy as np
        import kp
        from conftest import slow_algorithm
        mgr = kp.Manager()
        t = mgr.tensor(np.zeros(64, np.float32))
        counter = mgr.tensor(np.zeros(4, np.float32))
        inc = mgr.algorithm([counter], '''
            #version 450
            layout(local_size_x = 1) in;
            layout(set = 0, binding = 0) buffer A { float a[]; };
            void main() { a[gl_GlobalInvocationID.x] += 1.0; }''')
        seq = mgr.sequence().record(kp.OpSyncDevice([counter])).record(kp.OpAlgoDispatch(slow_algorithm(mgr, t)))
        seq.record(kp.OpAlgoDispatch(inc)).record(kp.OpSyncLocal([counter]))
        seq.eval()

        armed = [False]

        def interrupt(*_):
            if armed[0]:  # only inside seq.eval() below
                armed[0] = False
                raise KeyboardInterrupt
        signal.signal(signal.SIGALRM, interrupt)
        interrupted = 0
        expected = counter.data().copy()
        for i in range(300):
            try:
                armed[0] = True
                signal.setitimer(signal.ITIMER_REAL, 1e-5 * (1 + i % 97))
                seq.eval()
            except KeyboardInterrupt:
                interrupted += 1
                seq.eval_await()  # tracked: waits for it, or nothing was submitted
            armed[0] = False
            value = counter.data().copy()
            time.sleep(0.001)
            assert np.array_equal(value, counter.data()), "the GPU still wrote after eval_await()"
            assert value[0] in (expected[0], expected[0] + 1), (value, expected)
            expected = value
            counter.data()[:] = value  # the next evaluation syncs these to the device
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        assert interrupted > 20, interrupted
        seq.eval()
        assert kp.vk.take_validation_messages() == []
        """, memory_mode, timeout=300)


def test_a_forked_child_makes_its_own_manager_and_refuses_the_parents(memory_mode):
    run_child("""
        import os, multiprocessing
        import kp
        DOUBLE = '''
            #version 450
            layout(local_size_x = 1) in;
            layout(set = 0, binding = 0) buffer A { float a[]; };
            void main() { a[gl_GlobalInvocationID.x] *= 2.0; }'''
        parent = kp.Manager()
        mine = parent.tensor([1.0, 2.0])
        seq = parent.sequence().record(kp.OpSyncDevice([mine])).record(kp.OpAlgoDispatch(parent.algorithm([mine], DOUBLE))) \
            .record(kp.OpSyncLocal([mine])).eval()

        # NVIDIA's driver does not work in a forked child: there kp refuses a new manager
        # before any Vulkan call, as CUDA does
        fork_safe = parent.get_device_properties()["driver_id"] not in kp.vk.instance._FORK_UNSAFE_DRIVERS

        def child_work(x):
            refused = []
            for use in (lambda: seq.eval(), lambda: parent.tensor([1.0]), lambda: mine.data(),
                        lambda: parent.sequence()):
                try:
                    use()
                except kp.KomputeError as exc:
                    refused.append("parent" in str(exc))
            try:
                mgr = kp.Manager()
            except kp.DeviceNotFoundError as exc:
                if fork_safe or "forked after its parent loaded" not in str(exc) or "'spawn'" not in str(exc):
                    raise
                return None, refused
            t = mgr.tensor([x, x + 1])
            mgr.sequence().record(kp.OpSyncDevice([t])).record(kp.OpAlgoDispatch(mgr.algorithm([t], DOUBLE))) \\
                .record(kp.OpSyncLocal([t])).eval()
            return t.data().tolist(), refused

        pid = os.fork()
        if pid == 0:
            try:
                data, refused = child_work(1.0)
                os._exit(0 if data == ([2.0, 4.0] if fork_safe else None) and refused == [True] * 4 else 3)
            finally:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map(child_work, [1.0, 5.0])
        assert [r[0] for r in results] == ([[2.0, 4.0], [10.0, 12.0]] if fork_safe else [None, None]), results
        assert all(r[1] == [True] * 4 for r in results), results
        seq.eval()
        assert mine.data().tolist() == [4.0, 8.0]
        """, memory_mode)


def test_a_sequence_whose_creation_an_interrupt_cut_short_is_released_whole(mgr, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt  # as a signal handler's, at that point of the creation

    gc.collect()  # earlier tests' sequences in this process are released first
    kp.vk.drain()
    before = kp.vk.live_handles().get("VkCommandPool", 0)
    monkeypatch.setattr(kp.vk.commands, "Timeline", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mgr.sequence()
    monkeypatch.undo()
    gc.collect()
    mgr.sequence().eval(kp.OpSyncDevice([mgr.tensor([1.0])]))
    assert kp.vk.live_handles().get("VkCommandPool", 0) == before


def test_a_range_whose_return_an_interrupt_cut_short_after_it_went_back_is_handed_out_once(mgr):
    # drain runs a release that Ctrl-C cut short again; one cut short after the range
    # went back to its block (at the end of give_back) must not add it a second time,
    # or two new tensors share that memory.
    keep, victim = mgr.tensor([0.0] * 16), mgr.tensor([0.0] * 16)
    interrupt_once_after_giving_back(victim.primary_allocation)
    with pytest.raises(KeyboardInterrupt):
        victim.destroy()
    kp.vk.drain()
    assert kp.vk.pending_releases() == 0
    a, b = mgr.tensor([1.0] * 16), mgr.tensor([2.0] * 16)
    mgr.sequence().eval(kp.OpSyncDevice([a, b])).eval(kp.OpSyncLocal([a, b]))
    assert (a.data().tolist(), b.data().tolist()) == ([1.0] * 16, [2.0] * 16)


@pytest.mark.parametrize("floats", [16, 2000], ids=["slot", "gap"])
def test_a_range_taken_again_before_its_cut_short_return_runs_again_is_not_returned_twice(mgr, floats):
    # Ctrl-C right after a range went back leaves its return at the head of the release
    # list; another thread may take the range before a drain runs that return again
    # (here: the allocator, which does not drain). The second run must not give the
    # range back a second time, or the next tensor shares that thread's memory.
    victim = mgr.tensor(np.zeros(floats, np.float32))
    allocation = victim.primary_allocation
    block, offset, size = allocation.block, allocation.offset, allocation.size
    interrupt_once_after_giving_back(allocation)
    with pytest.raises(KeyboardInterrupt):
        victim.destroy()
    other = mgr.live_vk_allocator().allocate(block.kind, size)
    assert (other.block, other.offset) == (block, offset)  # it took the range
    kp.vk.drain()
    assert kp.vk.pending_releases() == 0
    again = mgr.live_vk_allocator().allocate(block.kind, size)
    assert (again.block, again.offset) != (block, offset)


def interrupt_once_after_giving_back(allocation):
    """Make the range's return to its block raise KeyboardInterrupt (as a signal
    handler's) right after the range went back, the first time it runs."""
    give_back, interrupts = allocation.life.destroy, [1]

    def interrupted_on_return(*args):
        done = give_back(*args)
        if interrupts:
            interrupts.pop()
            raise KeyboardInterrupt
        return done

    allocation.life.destroy = interrupted_on_return


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.integers(1, 40) | st.integers(1030, 1100),  # slots, and gaps (over 4 KiB)
                                st.sampled_from(["keep", "drop", "interrupt"])), min_size=1, max_size=30))
def test_ranges_freed_and_taken_again_are_never_handed_to_two_live_tensors(mgr, steps):
    # Small tensors' ranges (up to 4 KiB) go back to slots of their size class, larger
    # ones to the block's gaps, and new tensors take them again; a return that Ctrl-C
    # cut short after the range went back runs again in the next drain.
    live, values = {}, itertools.count()

    def make(size):
        value = next(values)
        live[value] = mgr.tensor(np.full(size, value, np.float32))

    for size, action in steps:
        make(size)
        if action == "keep" or len(live) == 1:
            continue
        victim = live.pop(min(live))  # dropped: collected below, its ranges go back at the next drain
        if action == "interrupt":
            interrupt_once_after_giving_back(victim.primary_allocation)
            with pytest.raises(KeyboardInterrupt):
                victim.destroy()
            make(victim.size())  # the next two of its size may take its range
            make(victim.size())
        del victim
    ranges = sorted((id(a.block), a.offset, a.offset + a.size) for t in live.values() for a in t.allocations())
    for (block, _, end), (next_block, next_start, _) in zip(ranges, ranges[1:]):
        assert block != next_block or end <= next_start
    tensors = list(live.values())
    mgr.sequence().eval(kp.OpSyncDevice(tensors)).eval(kp.OpSyncLocal(tensors))
    for value, tensor in live.items():
        assert set(tensor.data().tolist()) == {value}


@pytest.mark.parametrize("module, call", [("memory", "vkCreateBuffer"), ("memory", "vkBindBufferMemory"),
                                          ("image", "vkCreateImage"), ("image", "vkCreateImageView")])
def test_memory_whose_creation_an_interrupt_cut_short_right_after_a_call_is_destroyed(memory_mode, monkeypatch,
                                                                                      module, call):
    # A block of its own (a tensor of over 16 MiB) and an image: Ctrl-C right after a
    # creation call returned, before kp stored what it made, leaked it (the validation
    # layer names it when the device is destroyed).
    mgr = kp.Manager()
    vk_module = getattr(kp.vk, module)
    check = vk_module.check

    def interrupted_after(result, what):
        check(result, what)
        if what == call:
            raise KeyboardInterrupt  # as a signal handler's, right after that call

    monkeypatch.setattr(vk_module, "check", interrupted_after)
    with pytest.raises(KeyboardInterrupt):
        if module == "memory":
            mgr.tensor(np.zeros(5 << 20, np.float32))
        else:
            mgr.image(np.zeros(16, np.float32), 4, 4, 1)
    monkeypatch.undo()
    gc.collect()
    mgr.destroy()
    assert kp.vk.take_validation_messages() == []


@pytest.mark.parametrize("step", ["watch", "_count"])
def test_live_handles_stay_right_when_an_interrupt_comes_between_a_handle_and_its_count(mgr, monkeypatch, step):
    # Ctrl-C between taking ownership of a command pool and counting it (watch), or
    # between destroying it and uncounting it (_count, in drain), left live_handles()
    # one off for ever: a leak reported where there is none.
    gc.collect()
    kp.vk.drain()
    before = kp.vk.live_handles().get("VkCommandPool", 0)
    real, armed = getattr(kp.vk.core, step), [False]

    def interrupted_at_its_start(*args):
        if armed[0]:
            armed[0] = False
            raise KeyboardInterrupt  # as a signal handler's, at the call's first line
        return real(*args)

    monkeypatch.setattr(kp.vk.core, step, interrupted_at_its_start)
    seq = None if step == "watch" else mgr.sequence()
    armed[0] = True
    with pytest.raises(KeyboardInterrupt):
        if seq is None:
            mgr.sequence()
        else:
            seq.destroy()
    monkeypatch.undo()
    gc.collect()
    kp.vk.drain()
    assert kp.vk.live_handles().get("VkCommandPool", 0) == before


@pytest.mark.parametrize("call", ["vkCreateDevice", "vkCreateBuffer"])
def test_a_manager_whose_creation_an_interrupt_cut_short_right_after_a_call_leaves_no_device(monkeypatch, call):
    # Ctrl-C right after vkCreateDevice returned (or after a later call of the device's
    # construction) leaked the device: the device took ownership only at the end.
    # A leaked lavapipe device keeps its own thread running.
    def threads() -> int:
        gc.collect()
        kp.vk.drain()
        return len(os.listdir("/proc/self/task"))

    check = kp.vk.device.check

    def interrupted_after(result, what):
        check(result, what)
        if what == call:
            raise KeyboardInterrupt  # as a signal handler's, right after that call

    kp.Manager().destroy()  # the instance and what one device starts once
    before = threads()
    monkeypatch.setattr(kp.vk.device, "check", interrupted_after)
    for _ in range(3):
        with pytest.raises(KeyboardInterrupt):
            kp.Manager()
    monkeypatch.undo()
    assert threads() <= before
    assert "VkDevice" not in kp.vk.live_handles()


def test_a_range_whose_release_an_interrupt_cut_short_returns_when_collected(mgr, monkeypatch):
    # Ctrl-C at the start of a range's release (in Tensor.destroy) marked it released
    # without listing it, so neither a later release nor its collection returned it.
    keep = mgr.tensor([0.0] * 4)
    block = keep.primary_allocation.block
    free = free_space(block)
    victim = mgr.tensor([0.0] * 4)
    assert victim.primary_allocation.block is block and free_space(block) != free
    release, armed = kp.vk.memory._release, [True]

    def interrupted_at_its_start(life):
        if armed:
            armed.pop()
            raise KeyboardInterrupt  # as a signal handler's, at the release's first line
        release(life)

    monkeypatch.setattr(kp.vk.memory, "_release", interrupted_at_its_start)
    with pytest.raises(KeyboardInterrupt):
        victim.destroy()
    del victim
    gc.collect()
    kp.vk.drain()
    assert free_space(block) == free


def free_space(block):
    """A block's free gaps and free slots (of small ranges), by size class."""
    return list(block._free), {size_class: set(slots) for size_class, slots in block._slots.items()}


def test_an_instance_whose_creation_an_interrupt_cut_short_right_after_vkcreateinstance_is_destroyed(monkeypatch):
    # The instance took ownership of its handle only at the end of its construction:
    # Ctrl-C right after vkCreateInstance returned left it for ever.
    check, destroy, destroyed = kp.vk.instance.check, kp.vk.instance._destroy_instance, []

    def interrupted_after(result, what):
        check(result, what)
        if what == "vkCreateInstance":
            raise KeyboardInterrupt  # as a signal handler's, right after that call

    def recorded(*args):
        destroyed.append(args)
        destroy(*args)

    monkeypatch.setattr(kp.vk.instance, "check", interrupted_after)
    monkeypatch.setattr(kp.vk.instance, "_destroy_instance", recorded)
    with pytest.raises(KeyboardInterrupt):
        kp.vk.Instance()
    monkeypatch.undo()
    gc.collect()
    kp.vk.drain()
    assert len(destroyed) == 1


def test_a_forked_child_awaiting_the_parents_evaluation_in_flight_is_refused(memory_mode):
    run_child("""
        import os, asyncio
        import numpy as np
        import kp
        from conftest import slow_algorithm
        parent = kp.Manager()
        t = parent.tensor(np.zeros(64, np.float32))
        seq = parent.sequence().record(kp.OpAlgoDispatch(slow_algorithm(parent, t))).record(kp.OpSyncLocal([t]))
        seq.eval_async()  # still running when the process forks
        pid = os.fork()
        if pid == 0:
            refused = 0
            for wait in (seq.eval_await, lambda: asyncio.run(seq.wait())):
                try:
                    wait()  # the parent's fence: nothing in the child ever signals it
                except kp.DestroyedError as exc:
                    refused += "parent" in str(exc)
            os._exit(0 if refused == 2 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        seq.eval_await()
        """, memory_mode, timeout=60)


def test_a_child_forked_while_a_thread_starts_vulkan_is_refused_not_hung():
    # mid-vkCreateInstance the parent's thread holds the Vulkan loader's locks: a child
    # making an instance of its own hung there (here the thread waits for the fork)
    out = run_child("""
        import os, threading, time
        import kp
        real_instance, starting, forked = kp.vk.instance.Instance, threading.Event(), threading.Event()

        def instance_made_after_the_fork(*args):
            starting.set()
            forked.wait()
            return real_instance(*args)
        kp.vk.instance.Instance = instance_made_after_the_fork
        first_use = threading.Thread(target=kp.list_devices)
        first_use.start()
        starting.wait()
        pid = os.fork()
        if pid == 0:
            try:
                kp.Manager()
                os._exit(3)
            except kp.DeviceNotFoundError as exc:
                os._exit(0 if "while another thread of its parent was starting Vulkan" in str(exc) else 4)
        for _ in range(300):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                print("child exit code", os.waitstatus_to_exitcode(status))
                break
            time.sleep(0.1)
        else:
            os.kill(pid, 9)
            print("the child hung")
        forked.set()
        first_use.join()
        assert kp.Manager().tensor([1.0, 2.0]).data().tolist() == [1.0, 2.0]
        """, "unified", timeout=60)
    assert "child exit code 0" in out, out


def test_ctrl_c_anywhere_in_making_and_destroying_leaves_releases_working(memory_mode):
    # Interrupts land in tensor and sequence construction, in destroy() and in the
    # release list's drain: none may stop later drains (a lock left held) or leave a
    # half-made object whose destruction raises into an unrelated call.
    out = run_child("""
        import gc, random, signal
        import numpy as np
        import kp
        mgr = kp.Manager()
        armed = [False]

        def interrupt(*_):
            if armed[0]:
                armed[0] = False
                raise KeyboardInterrupt
        signal.signal(signal.SIGALRM, interrupt)
        random.seed(0)
        interrupted = 0
        pools = kp.vk.live_handles().get("VkCommandPool", 0)
        for i in range(400):
            try:
                armed[0] = True
                signal.setitimer(signal.ITIMER_REAL, random.uniform(1e-6, 3e-4))
                t = mgr.tensor(np.full(16, i, np.float32))
                seq = mgr.sequence().record(kp.OpSyncDevice([t])).record(kp.OpSyncLocal([t]))
                seq.eval()
                t.destroy()
                seq.destroy()
            except KeyboardInterrupt:
                interrupted += 1
            finally:
                armed[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        t = seq = None
        gc.collect()
        check = mgr.tensor([5.0])
        mgr.sequence().eval(kp.OpSyncDevice([check])).eval(kp.OpSyncLocal([check]))
        assert check.data().tolist() == [5.0]
        check = None
        gc.collect()
        kp.vk.drain()
        print(interrupted, kp.vk.pending_releases(), kp.vk.live_handles().get("VkCommandPool", 0) - pools)
        """, memory_mode)
    interrupted, pending, leaked = map(int, out.split())
    assert interrupted > 100
    assert pending == 0, f"{pending} released objects wait for ever: the release list stopped draining"
    # A release cut short is run again (15% of the interrupts lost a command pool before,
    # about 1% now: windows left between a few lines of creation and of drain's counting).
    assert leaked * 20 < interrupted, f"{leaked} command pools of {interrupted} interrupted iterations leaked"
