"""wasm-mgr's shared Python runtime: one CPython, built once, that runs one module
given as plain source per instance.

The host instantiates this component once per Python module and calls `load` with
the module's name, and its text when it is a single file (`NAME.py`); a package in
Ceph's layout (`NAME/__init__.py`, `NAME/module.py`, ...) is read from its
read-only folder `/modules/NAME`. Two kinds of module run here:

* Ceph's own (`from mgr_module import MgrModule`, a class named `Module`), with
  `mgr_module` loaded from the operator's installed Ceph and the C++ layer it sits
  on (`ceph_module`) implemented over the host's imports;
* modules written for wasm-mgr's Python SDK (`from wasm_mgr import MgrModule`).

Ceph modules block in `serve` (`threading.Event().wait(t)`, `time.sleep(t)`); those
waits become the host's `inbox.wait`, inside which the host hands over the
module's notifies, commands and HTTP requests, as ceph-mgr's other threads would
enter the module meanwhile. No exception escapes into the host: a failed load or
`serve` is answered with its traceback, a failed command answers -EINVAL with it.
"""

import hashlib
import importlib
import importlib.util
import os
import sys
import time
import traceback
import types as pytypes

import wit_world
from componentize_py_types import Err
from wit_world.imports import inbox, mgr, types

# The SDK first: it sets `errno` to Linux's numbers before anything reads them.
import wasm_mgr
import blocking
import ceph_module

# Pre-imported so that every instance shares them in the snapshot rather than
# importing its own copy at load time. The runtime has no standard library on
# disk: what is not imported here is missing, unless the Python path has it.
# (Those whose C part this CPython lacks, `bz2` say, are skipped.)
PRELOADED = """
    abc argparse array ast asyncio base64 binascii bisect calendar codecs collections
    collections.abc concurrent.futures configparser contextlib contextvars copy copyreg
    csv dataclasses datetime dbm decimal difflib email.utils enum errno fnmatch
    fractions functools getpass gettext glob graphlib gzip hashlib heapq hmac html
    html.entities html.parser http http.client http.cookies importlib importlib.metadata
    importlib.resources importlib.util inspect io ipaddress itertools json json.decoder
    locale logging logging.handlers lzma bz2 math mimetypes numbers operator os pathlib
    pickle platform pprint queue random re sched secrets selectors shelve shlex shutil
    signal socket ssl stat statistics string struct subprocess sysconfig tarfile
    tempfile textwrap threading time traceback types typing typing_extensions
    unicodedata urllib urllib.error urllib.parse urllib.request uuid warnings weakref
    wsgiref xml.dom.minidom xml.etree.ElementTree xml.sax xml.sax.saxutils zipfile zlib
    smtplib email.mime.text email.mime.multipart email.charset email.encoders
    http.cookiejar http.server concurrent.futures.thread urllib.response netrc
    email email.message email.parser email.policy email.headerregistry
    importlib.metadata._adapters importlib.metadata._collections
    importlib.metadata._functools importlib.metadata._itertools
    importlib.metadata._meta importlib.metadata._text zipfile._path _strptime
    encodings.idna encodings.ascii encodings.latin_1 encodings.utf_8 encodings.utf_16
    encodings.cp437 encodings.unicode_escape encodings.raw_unicode_escape _pydecimal
""".split()
for _name in PRELOADED:
    try:
        importlib.import_module(_name)
    except ImportError:
        pass

import rados, cephfs, rbd  # noqa: E401,F401  (what mgr_module, mgr_util and some modules import)


# Ceph's module API, when the build machine has Ceph installed (the Makefile puts
# its folders on the build's Python path): imported once here, it is shared by
# every instance instead of imported by each. At load, each file is compared with
# the one on the operator's Python path; if any differs, the operator's are
# imported instead.
CEPH_API = ("mgr_module", "mgr_util", "ceph_argparse")
# What importing them pulls in from outside the standard library.
CEPH_API_DEPENDENCIES = ("ceph", "prettytable", "wcwidth")
_baked = {}


def _digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _stamp(path):
    """A file's size and modification time: enough to tell the same installed
    file without reading it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


for _name in CEPH_API:
    try:
        _file = importlib.import_module(_name).__file__
        _baked[_name] = (_stamp(_file), _digest(_file))
    except Exception:
        pass  # not on this build's Python path: the operator's is imported at load
for _name in ("prettytable",):
    try:
        importlib.import_module(_name)
    except Exception:
        pass


def _same_as_baked(name, python_path) -> bool:
    stamp, digest = _baked[name]
    for p in python_path:
        path = os.path.join(p, name + ".py")
        found = _stamp(path)
        if found is None:
            continue
        # The first on the path is the one an import would find.
        return found == stamp or _digest(path) == digest
    return False


def _use_operators_ceph(python_path):
    """Keeps the pre-imported Ceph API only where it is the operator's own."""
    if not _baked or all(_same_as_baked(name, python_path) for name in _baked):
        return
    for loaded in list(sys.modules):
        root = loaded.split(".")[0]
        if root in CEPH_API or root in CEPH_API_DEPENDENCIES:
            del sys.modules[loaded]


def _traceback() -> str:
    return traceback.format_exc()


def _load(name: str, source):
    python_path = [p for p in (f"/python/{i}" for i in range(16)) if os.path.isdir(p)]
    for p in python_path:
        if p not in sys.path:
            sys.path.append(p)
    _use_operators_ceph(python_path)
    if source is not None:
        module = pytypes.ModuleType(name)
        module.__file__ = f"/modules/{name}.py"
        sys.modules[name] = module
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    else:
        spec = importlib.util.spec_from_file_location(
            name, f"/modules/{name}/__init__.py",
            submodule_search_locations=[f"/modules/{name}"])
        if spec is None:
            raise ImportError(f"no package at /modules/{name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    world = getattr(module, "WitWorld", None)
    if world is not None:
        return wasm_mgr.Adapter(world())
    cls = getattr(module, "Module", None) or _mgr_module_class(module)
    if cls is None:
        raise ImportError(f"module {name} defines no `Module` class (Ceph's layout) "
                          "and no `WitWorld` (wasm-mgr's SDK: WitWorld = export(MyModule))")
    return ceph_module.Adapter(name, cls)


def _mgr_module_class(module):
    """The module's class as ceph-mgr finds it when none is named `Module`: the
    one class of the package that derives from `mgr_module.MgrModule`."""
    base = getattr(sys.modules.get("mgr_module"), "MgrModule", None)
    if base is None:
        return None
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, base) and v is not base]
    return found[0] if len(found) == 1 else None


def _dispatch(incoming) -> None:
    """Runs one call the host handed over inside a wait."""
    if isinstance(incoming, inbox.Incoming_Notify):
        _module.notify(incoming.value)
    elif isinstance(incoming, inbox.Incoming_Command):
        call = incoming.value
        inbox.answer_command(call.id, _module.command(call.command, call.inbuf))
    elif isinstance(incoming, inbox.Incoming_Http):
        call = incoming.value
        inbox.answer_http(call.id, _module.http(call.request))
    elif isinstance(incoming, inbox.Incoming_Shutdown):
        _module.shutdown()


blocking.install(_dispatch)


class WitWorld(wit_world.WitWorld):
    def load(self, name: str, source) -> None:
        global _module
        try:
            started = time.perf_counter()
            _module = _load(name, source)
            mgr.log(mgr.LogLevel.DEBUG, f"loaded in {(time.perf_counter() - started) * 1000:.1f} ms")
        except BaseException:
            raise Err(f"loading Python module {name} failed:\n{_traceback()}")

    def describe(self) -> types.ModuleInfo:
        return _module.describe()

    def serve(self) -> None:
        try:
            _module.serve()
        except BaseException:
            raise Err(_traceback())

    def notify(self, notification: types.Notification) -> None:
        _module.notify(notification)

    def on_shutdown(self) -> None:
        _module.shutdown()

    def handle_command(self, command: str, inbuf: str) -> types.CommandResult:
        return _module.command(command, inbuf)

    def handle_http(self, request: types.HttpRequest) -> types.HttpResponse:
        return _module.http(request)


# Everything imported so far is in the snapshot every instance starts from. Keep
# the collector from ever walking (and so writing to) those objects, and make
# them immortal: CPython neither counts references to an immortal object nor
# frees it, so an instance that only uses an object of the image leaves its page
# the shared one. Python cannot write a reference count; the build does
# (runtimes/python-image), from the list of addresses left here behind a marker.
# The list of the objects themselves keeps every one alive until the snapshot.
import array  # noqa: E402
import gc  # noqa: E402
import struct  # noqa: E402


def _image_objects():
    todo = gc.get_objects()
    seen = set()
    objects = []
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        objects.append(o)
        # Strings, bytes and tuples keep their hash once computed: computed
        # here, no instance writes it into the shared image.
        if type(o) in (str, bytes, tuple):
            try:
                hash(o)
            except TypeError:
                pass
        todo.extend(gc.get_referents(o))
    return objects


def _fill_free_memory():
    """Fills the free chunks that the build's imports left scattered through the
    heap. An instance's own objects then come from the end of the heap, packed
    into fresh pages, instead of into holes across the shared image, each of
    which cost the instance a private copy of a whole page. (This CPython
    allocates through the C library's malloc, which serves a request from the
    best-fitting free chunk before the end of the heap.) The fill is kept alive,
    in the image: it takes no memory any instance writes."""
    # Where the end of the heap is: a block too large for any hole comes from it.
    end = id(bytes(2 << 20))
    kept = None
    sizes = [1 << k for k in range(20, 9, -1)]
    sizes = [n for s in sizes for n in (s, s * 3 // 4)] + list(range(1008, 31, -16))
    header = sys.getsizeof(b"")
    for size in sizes:
        # (bytes of length 0 and 1 are shared objects, never allocated)
        length = max(size - header, 2)
        for _ in range(1 << 20):
            block = bytes(length)
            if id(block) >= end:
                break  # from the end of the heap: no hole of this size is left
            kept = (block, kept)
        else:
            raise RuntimeError(f"filling the free memory: blocks of {size} bytes never "
                               "came from the end of the heap")
        del block
    return kept


gc.collect()
_IMAGE_OBJECTS = _image_objects()
_IMAGE_OBJECTS_LIST = (hashlib.sha256(b"wasm-mgr: the Python runtime's image objects").digest()
                       + struct.pack("<I", len(_IMAGE_OBJECTS))
                       + array.array("I", map(id, _IMAGE_OBJECTS)).tobytes())
_FILL = _fill_free_memory()
gc.freeze()
