"""Every example of the seed runs as written (``examples/``), with its own asserts,
and gives the numbers it should."""

import contextlib
import io
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"



@pytest.fixture
def run_example(monkeypatch, memory_mode):
    """Run examples/<name>.py as a script (in each memory mode); returns its globals
    and what it printed. Managers it made are destroyed afterwards."""
    monkeypatch.chdir(EXAMPLES)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    managers = []

    def run(name, source=None):
        path = EXAMPLES / f"{name}.py"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            if source is None:
                result = runpy.run_path(str(path), run_name="__main__")
            else:
                result = {"__name__": "__main__", "__file__": str(path)}
                exec(compile(source, str(path), "exec"), result)
        managers.append(result["mgr"])
        return result, out.getvalue()

    yield run
    for manager in managers:
        manager.destroy()
    sys.modules.pop("my_spv_shader_data", None)


def test_simple(run_example):
    result, _ = run_example("simple")
    assert result["tensor_out"].data() == [2.0, 4.0, 6.0]


def _compute_family_2() -> bool:
    families = kp.list_devices()[0]["queue_families"]
    return len(families) > 2 and families[2]["compute"]


def test_extended(run_example):
    """As written, the example takes a queue of family 2. Where the device has no
    compute family 2 (lavapipe has only family 0), that is refused with a clear
    error, and the rest of the example runs on the first compute family."""
    if _compute_family_2():
        result, _ = run_example("extended")
    else:
        with pytest.raises(kp.InvalidArgumentError, match="queue family 2 does not exist"):
            run_example("extended")
        family = next(f["index"] for f in kp.list_devices()[0]["queue_families"] if f["compute"])
        source = (EXAMPLES / "extended.py").read_text()
        assert source.count("mgr = Manager(0, [2])") == 1
        result, _ = run_example("extended", source.replace("mgr = Manager(0, [2])", f"mgr = Manager(0, [{family}])"))
    assert [t.data() for t in (result["tensor_in_a"], result["tensor_in_b"], result["tensor_out"])] == [
        [2.0, 2.0, 2.0], [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]
    assert not result["seq"].is_running() and result["seq"].is_init()


def test_multiple_sequences(run_example):
    result, printed = run_example("multiple_sequences")
    t1, t2 = np.array([2.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0])
    for _ in range(10):
        t3 = t1 * t2
        t1 = t3 + t2
    assert result["t1"].data() == t1.tolist() == [12.0, 4094.0, 206670.0]
    assert result["t2"].data() == t2.tolist()
    assert result["t3"].data() == t3.tolist()
    assert printed == f"{t1.tolist()} {t2.tolist()} {t3.tolist()}\n"


def _train_logistic_regression(iterations=100, learning_rate=0.1):
    """The example's training loop in NumPy."""
    x = np.array([[0.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0, 1.0]])
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
    w, b = np.array([0.001, 0.001]), 0.0
    for _ in range(iterations):
        y_hat = 1.0 / (1.0 + np.exp(-(w @ x + b)))
        d_z = y_hat - y
        w = w - learning_rate * (x * d_z / 5.0).sum(axis=1)
        b = b - learning_rate * (d_z / 5.0).sum()
    return w, b


def test_logistic_regression(run_example):
    result, printed = run_example("logistic_regression")
    w, b = _train_logistic_regression()
    w_in, b_in = result["tensor_w_in"].data(), result["tensor_b_in"].data()
    assert w_in == pytest.approx(w.tolist(), abs=1e-4)
    assert b_in == pytest.approx([b], abs=1e-4)
    assert 0.0 < w_in[0] < 0.01 and w_in[1] > 1.5 and b_in[0] < 0.7
    assert printed == f"{w_in}\n{b_in}\n"
    # the shader's loss output: the seed's formula, (1 + y) where cross-entropy has (1 - y)
    x_i, x_j, y = (np.array(result[f"tensor_{n}"].data()) for n in ("x_i", "x_j", "y"))
    w_last = np.array(w_in) + 0.1 * np.array([sum(result["tensor_w_out_i"].data()),
                                              sum(result["tensor_w_out_j"].data())])
    b_last = b_in[0] + 0.1 * sum(result["tensor_b_out"].data())
    y_hat = 1.0 / (1.0 + np.exp(-(w_last[0] * x_i + w_last[1] * x_j + b_last)))
    loss = -(y * np.log(y_hat) + (1.0 + y) * np.log(1.0 - y_hat))
    assert result["tensor_l_out"].data() == pytest.approx(loss.tolist(), rel=1e-3)


# one partial workgroup; 37 workgroups, the last of which takes the step; 2 workgroups
# whose invocations stride over the samples, the last vec4 padded; one dispatch a step
# also where the device would run the whole training in one dispatch (persistent=None)
@pytest.mark.parametrize(("n", "workgroups", "persistent"),
                         [(1000, None, None), (300_000, None, None), (50_001, 2, None), (300_000, None, False)])
def test_logistic_regression_fast(mgr, monkeypatch, n, workgroups, persistent):
    """The GPU-only training gives NumPy float64's weights, and a second evaluation
    trains on from where the first stopped."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import logistic_regression_fast as fast

    x_i, x_j, y = fast.samples(n)
    seq, w = fast.training(mgr, x_i, x_j, y, iterations=30, learning_rate=0.5,
                           max_workgroups=workgroups or fast.MAX_WORKGROUPS, persistent=persistent)
    seq.eval()
    np.testing.assert_allclose(w.data(), fast.reference(x_i, x_j, y, 30, 0.5), atol=1e-4)
    assert abs(w.data()[0] - 0.001) > 0.05  # it trained
    seq.eval()
    np.testing.assert_allclose(w.data(), fast.reference(x_i, x_j, y, 60, 0.5), atol=1e-4)


def test_logistic_regression_in_one_dispatch(mgr, monkeypatch):
    """Where the device reports its multiprocessors (NVIDIA), a whole training run is one
    dispatch whose workgroups wait for each other after every step: exact at every
    number of steps (the two sets of partial sums alternate), evaluation after
    evaluation (the counter is reset). Elsewhere asking for it is refused."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import logistic_regression_fast as fast

    x_i, x_j, y = fast.samples(100_003)
    if mgr.get_device_properties()["multiprocessors"] is None:
        with pytest.raises(ValueError, match="multiprocessor count"):
            fast.training(mgr, x_i, x_j, y, iterations=3, persistent=True)
        return
    for steps in (1, 2, 3, 8):
        seq, w = fast.training(mgr, x_i, x_j, y, iterations=steps, learning_rate=0.5, persistent=True)
        for runs in (1, 2, 3):
            seq.eval()
            np.testing.assert_allclose(w.data(), fast.reference(x_i, x_j, y, steps * runs, 0.5), atol=1e-5)


def test_logistic_regression_in_one_dispatch_starts_each_count_at_zero(mgr, monkeypatch):
    """Every run of the one-dispatch training starts its grid-wide barrier's count at 0,
    also where the host maps device memory (a sync from the host copy does nothing
    there): after each run the count holds one arrival per workgroup and step, not
    the sum over the runs so far (with which a later run's workgroups would not wait)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import logistic_regression_fast as fast

    properties = mgr.get_device_properties()
    monkeypatch.setattr(mgr, "get_device_properties", lambda: {**properties, "multiprocessors": 2})
    algorithms = []
    make_algorithm = mgr.algorithm
    monkeypatch.setattr(mgr, "algorithm", lambda *args, **kw: algorithms.append(make_algorithm(*args, **kw))
                        or algorithms[-1])
    x_i, x_j, y = fast.samples(5000)  # two workgroups
    seq, _w = fast.training(mgr, x_i, x_j, y, iterations=1, persistent=True)
    count = algorithms[0].get_tensors()[5]
    seen = mgr.tensor(np.zeros(1, np.float32), kp.MemoryTypes.host)
    for _ in range(3):
        seq.eval()
        mgr.sequence().eval(kp.OpCopy([count, seen]))
        assert seen.data().view(np.uint32).tolist() == [2]


@pytest.mark.parametrize("visible", [None, "0,0"], ids=["every-device", "two-managers-on-device-0"])
def test_multi_gpu(memory_mode, monkeypatch, visible):
    """The example splits the work over every visible device and gathers it; with
    KP_VISIBLE_DEVICES=0,0 that is two managers on one device."""
    if visible is not None:
        monkeypatch.setenv("KP_VISIBLE_DEVICES", visible)
    example = runpy.run_path(str(EXAMPLES / "multi_gpu.py"))
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result, managers = example["main"](size=1001, scale=2.0)
    x = np.linspace(-1, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(result, 2 * x * x + 2, rtol=1e-6)
    assert len(managers) == len(kp.list_devices()) and out.getvalue().count("computed") == len(managers)
    for manager in managers:
        manager.destroy()


@pytest.mark.memory_modes("staging")
def test_dask_cluster(memory_mode):
    """The example starts a LocalCluster of two worker processes and checks the kernel's
    result against NumPy (tests/test_dask.py runs kp.dask in both memory modes)."""
    pytest.importorskip("distributed", reason="the example needs dask[distributed] (a test extra)")
    from conftest import child_env
    done = subprocess.run([sys.executable, str(EXAMPLES / "dask_cluster.py"), "--size", "100000", "--chunk", "30000"],
                          env=child_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "4 blocks of up to 30000 elements on 2 worker(s): equal to NumPy's" in done.stdout
