"""Printing from shaders: debugPrintfEXT in GLSL and print() in python2shader kernels
reach stdout, one line per message with its invocation, when kp.Manager(debug_printf=True)
or KP_SHADER_PRINTF=1 turns on the validation layer's debug printf."""

import subprocess
import sys

import pytest

import kp
from conftest import child_env, run
from kp.shader import Array, f32, ivec3, python2shader, vec3
from python_shader_helpers import shader_from_source, spirv_val

PRINTF_GLSL = """
#version 450
#extension GL_EXT_debug_printf : require
layout(local_size_x = 1) in;
layout(set = 0, binding = 0) buffer A { float a[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    debugPrintfEXT("a[%u] = %.2f\\n", i, a[i]);
    a[i] *= 2.0;
}
"""


def by_invocation(output):
    """Printed lines by invocation, in the order each invocation printed them: the
    order between invocations, which run in parallel, is not defined."""
    lines = output.splitlines() if isinstance(output, str) else output
    grouped = {}
    for line in lines:
        grouped.setdefault(line.split(":")[0], []).append(line)
    return grouped


@pytest.mark.parametrize("conversion", ["%s", "%n", "%ls", "%5$d", "%*d", "%c", "100%"])
def test_a_format_debug_printf_cannot_take_is_refused(mgr, conversion):
    # with printing on, the layer gave %s and %n to the C library: a segfault, an abort
    shader = PRINTF_GLSL.replace('"a[%u] = %.2f\\n", i, a[i]', f'"{conversion}", i')
    with pytest.raises(kp.ShaderError, match=r"debugPrintfEXT format .* has '%.*', which the validation "
                                             r"layer's debug printf cannot format"):
        mgr.algorithm([mgr.tensor([1.0])], shader)


def test_formats_debug_printf_takes_pass(mgr):
    shader = PRINTF_GLSL.replace('"a[%u] = %.2f\\n", i, a[i]',
                                 '"%% %-08.3f %lu %ul %X %v2d %.1v3e", a[i], uint64_t(i), i, i, ivec2(i), vec3(a[i])')
    shader = shader.replace("require\n", "require\n#extension GL_ARB_gpu_shader_int64 : require\n")
    assert "%v2d" in shader and "int64 : require" in shader
    mgr.algorithm([mgr.tensor([1.0])], shader)


def doubled_and_printed(mgr, shader, values):
    tensor = mgr.tensor(values)
    run(mgr, kp.OpSyncDevice([tensor]), kp.OpAlgoDispatch(mgr.algorithm([tensor], shader)),
        kp.OpSyncLocal([tensor]))
    return tensor.data().tolist()


def test_glsl_debug_printf_reaches_stdout_with_the_invocation(capsys):
    with kp.Manager(debug_printf=True) as mgr:
        assert doubled_and_printed(mgr, PRINTF_GLSL, [1.0, 2.5, -3.0]) == [2.0, 5.0, -6.0]
    assert by_invocation(capsys.readouterr().out) == by_invocation([
        "invocation (0, 0, 0): a[0] = 1.00", "invocation (1, 0, 0): a[1] = 2.50", "invocation (2, 0, 0): a[2] = -3.00"])


@python2shader
def printing(index=("input", "GlobalInvocationId", ivec3), a=("buffer", 0, Array(f32))):
    i = index.x
    print("a[i] =", a[i], "at", i, "(100%)")
    print(f"{i:03d}: {a[i]:.1f} {vec3(a[i], 0.5, 2.0)}", a[i] > 2.0, sep=" | ")
    a[i] *= 2.0


def test_print_in_a_python_kernel_prints_as_python_does(capsys):
    spirv_val(printing.to_spirv())
    with kp.Manager(debug_printf=True) as mgr:
        assert doubled_and_printed(mgr, printing, [1.0, 2.5]) == [2.0, 5.0]
    assert by_invocation(capsys.readouterr().out) == by_invocation([
        "invocation (0, 0, 0): a[i] = 1 at 0 (100%)", "invocation (1, 0, 0): a[i] = 2.5 at 1 (100%)",
        "invocation (0, 0, 0): 000: 1.0 (1, 0.5, 2) | 0", "invocation (1, 0, 0): 001: 2.5 (2.5, 0.5, 2) | 1"])


@python2shader
def printing_ints_as_floats(index=("input", "GlobalInvocationId", ivec3), a=("buffer", 0, Array(f32))):
    i = index.x
    print(f"{i:.2f} {i + 3:e} {a[i] > 2.0:.1f}")


def test_a_float_conversion_of_an_int_prints_its_value_as_python_does(capsys):
    # printf would read the int's bits as a float: 0.00, 4.2e-45
    with kp.Manager(debug_printf=True) as mgr:
        doubled_and_printed(mgr, printing_ints_as_floats, [1.0, 2.5])
    assert by_invocation(capsys.readouterr().out) == by_invocation([
        "invocation (0, 0, 0): 0.00 3.000000e+00 0.0", "invocation (1, 0, 0): 1.00 4.000000e+00 1.0"])


def test_kp_shader_printf_turns_printing_on_and_it_is_off_by_default(capsys, monkeypatch):
    with kp.Manager() as mgr:
        assert doubled_and_printed(mgr, printing, [4.0]) == [8.0]  # runs, prints nothing
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("KP_SHADER_PRINTF", "1")
    with kp.Manager() as mgr:
        assert doubled_and_printed(mgr, PRINTF_GLSL, [4.0]) == [8.0]
    assert capsys.readouterr().out == "invocation (0, 0, 0): a[0] = 4.00\n"


def test_printing_without_validation_runs_no_checks_and_still_prints():
    code = ("import kp, test_shader_printf as t\n"
            "with kp.Manager(debug_printf=True) as mgr:\n"
            "    print(t.doubled_and_printed(mgr, t.PRINTF_GLSL, [0.5]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=child_env(KP_VALIDATION="0"))
    assert result.stdout.splitlines() == ["invocation (0, 0, 0): a[0] = 0.50", "[1.0]"], result.stderr


def test_without_the_validation_layer_the_switch_says_what_to_install():
    code = "import kp\ntry:\n    kp.Manager(debug_printf=True)\nexcept kp.KomputeError as e:\n    print(e)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=child_env(VK_LAYER_PATH="/nonexistent", KP_VALIDATION="0"))
    assert "needs the Vulkan validation layer VK_LAYER_KHRONOS_validation, which is not installed: install it " \
           "(on Debian and Ubuntu: apt-get install vulkan-validationlayers" in result.stdout


def test_debug_printf_must_be_a_bool():
    with pytest.raises(kp.InvalidArgumentError, match="debug_printf must be True or False, got 'yes'"):
        kp.Manager(debug_printf="yes")


@pytest.mark.parametrize("body, message", [
    ('print(x[0], end="")', r'print\(\) in a shader takes values and sep="..." \(a string\)'),
    ("print(mat2(1.0))", r"print\(\) of `mat2\(1.0\)` \(mat2\): a shader prints numbers and vectors of 32 "
                         r"bits or less; print its columns"),
    ('print(f"{x[0]:>10}")', r"`\{x\[0\]:...\}`: a shader prints with a printf conversion like \{x:.3f\}"),
    # printf would print the float's bits, where Python refuses
    ('print(f"{x[0]:d}")', r"`\{x\[0\]:d\}` gives an integer conversion to a f32; write \{i32\(x\[0\]\):d\}"),
    ('print(f"{vec3(x[0]):x}")', r"to a vec3; write \{ivec3\(vec3\(x\[0\]\)\):x\}"),
    # an OpString ends at its first NUL: the f-string's module was invalid
    ('print(f"a\\x00{x[0]}")', r"cannot print a NUL character"),
    ('print("a", "b", sep="\\x00")', r"cannot print a NUL character"),
])
def test_what_a_shader_cannot_print_says_what_it_can(body, message):
    with pytest.raises(kp.ShaderCompileError, match=message):
        shader_from_source(f"""
            def kernel(index=("input", "GlobalInvocationId", ivec3), x=("buffer", 0, Array(f32))):
                {body}
        """)
