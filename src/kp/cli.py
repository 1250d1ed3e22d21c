"""The ``kp`` command (also ``python -m kp``): ``devices`` shows every Vulkan device,
``compile`` turns GLSL or ``@python2shader`` kernels into ``.spv`` files, ``bench``
runs the benchmark table. Each takes ``--help`` and ``--json``.

The device data comes from ``kp.vk.query`` and the compilers from ``kp.shader``;
this module only parses arguments and formats.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import KomputeError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kp`` command with ``argv`` (default: the process's arguments);
    returns the exit status."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "bench":
        args.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        status: int = args.run(args, extra)
        return status
    except KomputeError as error:
        print(f"kp {args.command}: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # a reader that stopped early (`kp devices | head`): no traceback, and none
        # at exit either, when Python flushes the closed stdout again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kp", description="kp: Kompute's GPU compute API in pure Python.")
    parser.add_argument("--version", action="version", version=f"kp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    devices = commands.add_parser(
        "devices", help="list the Vulkan devices and what they can do",
        description="Every Vulkan device kp.Manager can use (those KP_VISIBLE_DEVICES names, in its order, "
                    "where it is set): the index and UUID kp.Manager(device=...) takes, its type, driver and API "
                    "version, memory heaps and types, queue families, subgroup size and operations, and the limits "
                    "and optional features kp uses.")
    devices.add_argument("--json", action="store_true", help="print JSON instead of text")
    devices.set_defaults(run=_devices, error=devices.error)

    compile_ = commands.add_parser(
        "compile", help="compile a GLSL file or @python2shader kernels to SPIR-V",
        description="Compile a GLSL compute shader (any file that is not .py) or the @python2shader kernels "
                    "of a Python file to .spv files: SHADER.spv for GLSL, FILE.KERNEL.spv for each kernel (named "
                    "by its function, or by its variable where kernels of one factory share a function name).")
    compile_.add_argument("source", type=Path, help="a GLSL file, or a Python file with @python2shader kernels")
    compile_.add_argument("-o", "--output", type=Path, help="the .spv file to write (one shader only)")
    compile_.add_argument("-k", "--kernel", help="compile only this @python2shader kernel (by the name its .spv file has)")
    compile_.add_argument("-D", "--define", action="append", default=[], metavar="NAME[=VALUE]",
                          help="a GLSL preprocessor macro (repeatable)")
    compile_.add_argument("-I", "--include", action="append", default=[], type=Path, metavar="DIR",
                          help="a folder for GLSL #include \"...\" after the including file's own (repeatable, "
                               "searched in order)")
    compile_.add_argument("--check", action="store_true", help="validate the SPIR-V with spirv-val")
    compile_.add_argument("--json", action="store_true", help="print what was written as JSON")
    compile_.set_defaults(run=_compile, error=compile_.error)

    bench = commands.add_parser(
        "bench", help="run the benchmark table (JSON and PNG chart)",
        description="Run benchmarks/run_all.py of kp's source checkout: the table of kp and its peers, "
                    "written as results.json and results.png. Other options go to it, such as --quick (small "
                    "sizes, for CPU devices).")
    bench.add_argument("--out", type=Path, default=Path("benchmark-results"),
                       help="the folder for results.json and results.png (default: %(default)s)")
    bench.add_argument("--json", action="store_true",
                       help="print the results as JSON (the table goes to standard error)")
    bench.set_defaults(run=_bench)
    return parser


# -- devices ----------------------------------------------------------------------

def _devices(args: argparse.Namespace, extra: list[str]) -> int:
    from .vk import query
    devices = query.describe_all()
    if args.json:
        print(json.dumps(devices, indent=2))
    elif not devices:
        print(query.why_no_device())
    else:
        print("\n\n".join(_device_text(device) for device in devices))
    return 0


def _size(size: int) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    power = 0
    while size >= 1024 ** (power + 1) and power < len(units) - 1:
        power += 1
    return f"{size} B" if power == 0 else f"{size / 1024 ** power:.1f} {units[power]}"


def _value(value: Any) -> str:
    if isinstance(value, list):
        return " x ".join(str(v) for v in value)
    return str(value)


def _device_text(device: dict[str, Any]) -> str:
    driver = device["driver"]
    driver_text = " ".join(filter(None, [driver.get("name"), driver["version"]]))
    if driver.get("info"):
        driver_text += f" ({driver['info']})"
    if driver.get("conformance"):
        driver_text += f", conformance {driver['conformance']}"
    subgroup = device["subgroup"]
    lines = [
        f"Device {device['index']}: {device['device_name']}",
        f"  UUID:            {device['uuid']}",
        f"  Vulkan index:    {device['vulkan_index']}",
        f"  type:            {device['device_type']}",
        f"  API version:     {device['api_version']}",
        f"  driver:          {driver_text}",
        "  memory heaps:",
        *(f"    {heap['index']}: {_size(heap['size'])} {' '.join(heap['flags'])}".rstrip()
          for heap in device["memory_heaps"]),
        "  memory types:",
        *(f"    {kind['index']}: heap {kind['heap']} {' '.join(kind['flags'])}".rstrip()
          for kind in device["memory_types"]),
        "  queue families:",
        *(f"    {family['index']}: {family['queue_count']} queue{'s' if family['queue_count'] != 1 else ''}, "
          f"{' '.join(family['flags'])}, timestamps {family['timestamp_valid_bits']} bits"
          for family in device["queue_families"]),
        f"  subgroup:        size {subgroup['size']}; operations {' '.join(subgroup['operations']) or 'none'}; "
        f"stages {' '.join(subgroup['stages']) or 'none'}",
        "  limits:",
        *(f"    {name}: {_value(value)}" for name, value in device["limits"].items()),
        "  features:",
        f"    supported:     {' '.join(n for n, on in device['features'].items() if on) or 'none'}",
        f"    unsupported:   {' '.join(n for n, on in device['features'].items() if not on) or 'none'}",
        "  cooperative matrices (M x N x K: A B C result types, scope):",
        *(f"    {c['m']} x {c['n']} x {c['k']}: {c['a_type']} {c['b_type']} {c['c_type']} {c['result_type']}, "
          f"{c['scope']}{', saturating' if c['saturating_accumulation'] else ''}"
          for c in device["cooperative_matrices"]),
        *(["    none"] if not device["cooperative_matrices"] else []),
        "  extensions:",
        *(f"    {name}: {'yes' if on else 'no'}" for name, on in device["extensions"].items()),
    ]
    return "\n".join(lines)


# -- compile ----------------------------------------------------------------------

def _compile(args: argparse.Namespace, extra: list[str]) -> int:
    from .shader import compile_source, reflect, tools
    from .shader.validate import validate

    parser_error = args.error
    if args.source.is_dir():
        parser_error(f"{args.source} is a folder; give a GLSL or Python file")
    if not args.source.is_file():
        parser_error(f"no such file: {args.source}")
    if args.output is not None and args.output.is_dir():
        parser_error(f"-o/--output {args.output} is a folder; give the .spv file to write")
    if args.output is not None and not args.output.parent.is_dir():
        parser_error(f"-o/--output {args.output}: no folder {args.output.parent} to write it in")
    if args.check and tools.find(tools.SPIRV_VAL) is None:
        raise KomputeError(f"--check needs spirv-val, which is not installed; install it with {tools.INSTALL_HINT}")
    shaders: list[tuple[str | None, bytes, Path]] = []
    if args.source.suffix == ".py":
        if args.define or args.include:
            parser_error("-D/--define and -I/--include are for GLSL; a Python kernel reads its module's globals")
        namespace = _run_python_file(args.source)
        kernels = _kernels_by_name(namespace)
        if args.kernel is not None:
            if args.kernel not in kernels:
                parser_error(f"{args.source} has no @python2shader kernel {args.kernel!r}; "
                             f"it has {', '.join(sorted(kernels)) or 'none'}")
            kernels = {args.kernel: kernels[args.kernel]}
        if not kernels:
            parser_error(f"{args.source} defines no @python2shader kernel")
        for name, kernel in kernels.items():
            shaders.append((name, kernel.to_spirv(), args.source.with_name(f"{args.source.stem}.{name}.spv")))
    else:
        if args.kernel is not None:
            parser_error("-k/--kernel is for Python files")
        defines: dict[str, str | None] = {}
        for define in args.define:
            name, equals, value = define.partition("=")
            defines[name] = value if equals else None
        try:
            text = args.source.read_text()
        except (OSError, UnicodeDecodeError) as error:
            parser_error(f"cannot read {args.source}: {error}")
        spirv = compile_source(text, defines=defines, include_dirs=args.include, directory=args.source.parent)
        shaders.append((None, spirv, args.source.with_suffix(".spv")))
    if args.output is not None:
        if len(shaders) != 1:
            parser_error(f"-o/--output names one file but {args.source} has {len(shaders)} kernels; "
                         "pick one with --kernel")
        shaders[0] = (shaders[0][0], shaders[0][1], args.output)

    for _, _, output in shaders:
        if output.exists() and output.samefile(args.source):
            parser_error(f"the output {output} is the source file, which writing would overwrite; "
                         "give another with -o/--output")
    written = []
    for kernel_name, spirv, output in shaders:
        if args.check:
            validate(spirv)
        try:
            output.write_bytes(spirv)
        except OSError as error:  # a missing folder, no permission
            parser_error(f"cannot write {output}: {error.strerror or error}")
        info = reflect(spirv)
        written.append({"source": str(args.source), "kernel": kernel_name, "output": str(output), "bytes": len(spirv),
                        "local_size": list(info.local_size), "bindings": [
                            {"binding": b.binding, "kind": b.kind, "name": b.name} for b in info.bindings],
                        "push_constant_size": info.push_constant_size, "checked": args.check})
    if args.json:
        print(json.dumps(written, indent=2))
    else:
        for entry in written:
            print(f"{entry['output']}: {entry['bytes']} bytes, local size "
                  f"{' x '.join(map(str, entry['local_size']))}, {len(entry['bindings'])} bindings"
                  + (", valid (spirv-val)" if entry["checked"] else ""))
    return 0


def _kernels_by_name(namespace: dict[str, Any]) -> dict[str, Any]:
    """The ``@python2shader`` kernels of a module's globals by function name; where
    different kernels share one (made by one factory), by their variables' names."""
    from .shader import PythonShader

    named: dict[str, dict[int, tuple[str, Any]]] = {}
    for variable, value in namespace.items():
        if isinstance(value, PythonShader):
            named.setdefault(value.name, {}).setdefault(id(value), (variable, value))
    kernels = {}
    for name, found in named.items():
        kernels.update({name: value for _, value in found.values()} if len(found) == 1 else dict(found.values()))
    return kernels


def _run_python_file(source: Path) -> dict[str, Any]:
    """Run ``source`` as ``python source`` would see it, with its folder first on
    ``sys.path`` (so that it imports its sibling modules); its globals."""
    folder = str(source.resolve().parent)
    sys.path.insert(0, folder)
    try:
        return runpy.run_path(str(source), run_name=f"kp_compile_{source.stem}")
    except KomputeError:
        raise  # a kernel that does not compile (as the decorator compiles it) says where
    except SyntaxError as error:
        raise KomputeError(f"{error.filename}:{error.lineno}: {error.msg}") from None
    except Exception as error:  # the file's own mistake: where, in one line
        frames = traceback.extract_tb(error.__traceback__)
        mine = [f for f in frames if Path(f.filename).resolve().is_relative_to(folder)] or frames
        raise KomputeError(f"{mine[-1].filename}:{mine[-1].lineno}: running {source} raised "
                           f"{type(error).__name__}: {error}") from None
    finally:
        with contextlib.suppress(ValueError):  # the file may have taken it out itself
            sys.path.remove(folder)


# -- bench ------------------------------------------------------------------------

def benchmarks_folder() -> Path | None:
    """The ``benchmarks`` folder of the source checkout kp runs from, if any."""
    folder = Path(__file__).resolve().parents[2] / "benchmarks"
    return folder if (folder / "run_all.py").is_file() else None


def _bench(args: argparse.Namespace, extra: list[str]) -> int:
    folder = benchmarks_folder()
    if folder is None:
        raise KomputeError("the benchmarks live in kp's source checkout (benchmarks/run_all.py); run "
                           "'kp bench' from a checkout, or a 'pip install -e' of one")
    run_all = runpy.run_path(str(folder / "run_all.py"), run_name="kp_bench")["main"]
    argv = [*extra, "--out", str(args.out)]
    status: int
    if not args.json:
        status = run_all(argv)
        return status
    with contextlib.redirect_stdout(sys.stderr):
        status = run_all(argv)
    print((args.out / "results.json").read_text(), end="")
    return status
