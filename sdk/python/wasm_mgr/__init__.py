"""wasm-mgr's Python SDK: write a module as you would a ceph-mgr module.

A module is a class derived from `MgrModule` with ceph-mgr's vocabulary:
`MODULE_OPTIONS`, `NOTIFY_TYPES`, `serve`, `notify`, `get`, `get_module_option`,
`get_store`/`set_store`, `set_health_checks`, `send_command`, `remote`, `log`, and
commands declared by decorating their handlers with `@CLIReadCommand` /
`@CLIWriteCommand`, as ceph's own modules do. `export(MyModule)` turns it into
the module's exports. Copy the file (or its package folder) into the host's
modules folder and it runs on the host's shared Python runtime; or build it with
componentize-py into a component of its own for the `ceph:mgr` `module` world.

    from typing import Optional
    from wasm_mgr import CLIReadCommand, MgrModule, export

    class Hello(MgrModule):
        MODULE_NAME = "hello"

        @CLIReadCommand("hello")
        def hello(self, who: Optional[str] = None):
            \"\"\"Say hello\"\"\"
            return 0, f"hello {who or 'world'}", ""

    WitWorld = export(Hello)
"""

import enum
import errno
import inspect
import json
import traceback
import types as _pytypes
import typing
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import wit_world
from componentize_py_types import Err
from wit_world.imports import cluster, mgr, types

# Linux's errno numbers. A command answers -errno to Ceph's tools, which read
# Linux's numbers; CPython built for WASI has WASI's (EINVAL is 28 there, not 22),
# so the `errno` module is set to Linux's for this module and every other.
_LINUX_ERRNO = {
    "EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EINTR": 4, "EIO": 5, "ENXIO": 6, "E2BIG": 7,
    "ENOEXEC": 8, "EBADF": 9, "ECHILD": 10, "EAGAIN": 11, "EWOULDBLOCK": 11, "ENOMEM": 12,
    "EACCES": 13, "EFAULT": 14, "EBUSY": 16, "EEXIST": 17, "EXDEV": 18, "ENODEV": 19,
    "ENOTDIR": 20, "EISDIR": 21, "EINVAL": 22, "ENFILE": 23, "EMFILE": 24, "ENOTTY": 25,
    "ETXTBSY": 26, "EFBIG": 27, "ENOSPC": 28, "ESPIPE": 29, "EROFS": 30, "EMLINK": 31,
    "EPIPE": 32, "EDOM": 33, "ERANGE": 34, "EDEADLK": 35, "ENAMETOOLONG": 36, "ENOLCK": 37,
    "ENOSYS": 38, "ENOTEMPTY": 39, "ELOOP": 40, "ENOMSG": 42, "EIDRM": 43, "ENOSTR": 60,
    "ENODATA": 61, "ETIME": 62, "ENOSR": 63, "ENOLINK": 67, "EPROTO": 71, "EBADMSG": 74,
    "EOVERFLOW": 75, "EILSEQ": 84, "ENOTSOCK": 88, "EDESTADDRREQ": 89, "EMSGSIZE": 90,
    "EPROTOTYPE": 91, "ENOPROTOOPT": 92, "EPROTONOSUPPORT": 93, "EOPNOTSUPP": 95,
    "ENOTSUP": 95, "EAFNOSUPPORT": 97, "EADDRINUSE": 98, "EADDRNOTAVAIL": 99,
    "ENETDOWN": 100, "ENETUNREACH": 101, "ENETRESET": 102, "ECONNABORTED": 103,
    "ECONNRESET": 104, "ENOBUFS": 105, "EISCONN": 106, "ENOTCONN": 107, "ETIMEDOUT": 110,
    "ECONNREFUSED": 111, "EHOSTUNREACH": 113, "EALREADY": 114, "EINPROGRESS": 115,
    "ESTALE": 116, "EDQUOT": 122, "ECANCELED": 125, "EOWNERDEAD": 130,
    "ENOTRECOVERABLE": 131,
}
for _name, _number in _LINUX_ERRNO.items():
    setattr(errno, _name, _number)
errno.errorcode = {n: name for name, n in _LINUX_ERRNO.items()}

try:  # a component of its own: the async `module` world
    from wit_world.imports import mgr_async
    _blocking = None
except ImportError:  # on the shared runtime: the `runtime` world, whose waits block
    mgr_async = None
    import blocking as _blocking
    from wit_world.imports import mgr_blocking

__all__ = [
    "MgrModule", "Option", "CLICommand", "CLIReadCommand", "CLIWriteCommand", "Command",
    "HandleCommandResult", "HttpRequest", "HttpResponse", "HostError", "export", "log",
]

HttpRequest = types.HttpRequest
HttpResponse = types.HttpResponse

# ceph-mgr's notify types, by their wasm-mgr kind.
_NOTIFY_NAMES = {
    types.NotifyKind.MON_MAP: "mon_map",
    types.NotifyKind.OSD_MAP: "osd_map",
    types.NotifyKind.FS_MAP: "fs_map",
    types.NotifyKind.MGR_MAP: "mgr_map",
    types.NotifyKind.PG_SUMMARY: "pg_summary",
    types.NotifyKind.HEALTH: "health",
    types.NotifyKind.SERVICE_MAP: "service_map",
    types.NotifyKind.CLOG: "clog",
    types.NotifyKind.COMMAND: "command",
    types.NotifyKind.CONFIG: "config",
}
_NOTIFY_KINDS = {name: kind for kind, name in _NOTIFY_NAMES.items()}

_OPTION_TYPES = {
    "str": types.OptionType.STR, "int": types.OptionType.INT, "uint": types.OptionType.UINT,
    "float": types.OptionType.FLOAT, "bool": types.OptionType.BOOL,
    "secs": types.OptionType.SECS, "size": types.OptionType.SIZE,
}

_LEVELS = {
    "debug": mgr.LogLevel.DEBUG, "info": mgr.LogLevel.INFO,
    "warning": mgr.LogLevel.WARN, "warn": mgr.LogLevel.WARN, "error": mgr.LogLevel.ERROR,
}

# A host error's kind and the errno a command answers it with, as in every SDK.
_ERROR_KINDS = {
    types.Error_NotFound: ("not_found", errno.ENOENT),
    types.Error_Invalid: ("invalid", errno.EINVAL),
    types.Error_Denied: ("denied", errno.EACCES),
    types.Error_Unavailable: ("unavailable", errno.EAGAIN),
    types.Error_Internal: ("internal", errno.EIO),
}


class HostError(Exception):
    """A host call failed. `kind` is not_found, invalid, denied, unavailable or
    internal; `errno` is what a command answers it with (ENOENT, EINVAL, EACCES,
    EAGAIN, EIO). Raised in a command handler, it answers `-errno` and the message."""

    def __init__(self, kind: str, message: str, errno_: int = errno.EIO):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.errno = errno_


def _host_error(e: Err) -> HostError:
    kind, number = _ERROR_KINDS.get(type(e.value), ("internal", errno.EIO))
    return HostError(kind, getattr(e.value, "value", str(e.value)), number)


def _host(call, *args):
    """Runs a host import, turning its error variant into `HostError`."""
    try:
        return call(*args)
    except Err as e:
        raise _host_error(e) from None


async def _host_async(call, *args):
    try:
        return await call(*args)
    except Err as e:
        raise _host_error(e) from None


def _run(coroutine):
    """Runs an SDK coroutine to its end on the shared runtime, where nothing it
    awaits suspends (every host call there blocks)."""
    if not inspect.isawaitable(coroutine):
        return coroutine
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a handler awaited something other than the SDK's calls "
                       "(asyncio is not available on the shared runtime)")


class Option:
    """A module option, as ceph-mgr's `Option(name, type=..., default=..., desc=...,
    min=..., max=..., enum_allowed=[...])`."""

    def __init__(self, name: str, type: str = "str", default: Any = None, desc: str = "",
                 min: Optional[float] = None, max: Optional[float] = None,
                 enum_allowed: Optional[List[str]] = None):
        if type not in _OPTION_TYPES:
            raise ValueError(f"option {name}: unknown type {type!r}")
        self.name, self.type, self.default, self.desc = name, type, default, desc
        self.min, self.max, self.enum_allowed = min, max, list(enum_allowed or [])

    def _wit(self) -> types.ModuleOption:
        return types.ModuleOption(
            name=self.name, kind=_OPTION_TYPES[self.type], default=_option_value(self.default),
            description=self.desc, min=self.min, max=self.max, allowed=self.enum_allowed)


def _option_value(value: Any) -> Optional[types.OptionValue]:
    if value is None:
        return None
    if isinstance(value, bool):
        return types.OptionValue_Bool(value)
    if isinstance(value, int):
        return types.OptionValue_Int(value)
    if isinstance(value, float):
        return types.OptionValue_Float(value)
    return types.OptionValue_Str(str(value))


class HandleCommandResult(NamedTuple):
    """ceph-mgr's `(retval, stdout, stderr)`: retval is 0 or a negative errno."""
    retval: int = 0
    stdout: str = ""
    stderr: str = ""


class Command:
    """A command in ceph's signature syntax (`iostat name=width,type=CephInt,req=false`),
    for `COMMANDS`, served by `handle_command`: the hand-written way under the
    decorators."""

    def __init__(self, cmd: str, desc: str = "", perm: str = "r"):
        self.cmd, self.desc, self.perm = cmd, desc, perm


# --- commands derived from their handlers, as ceph's CLICommand ---------------------

_CEPH_TYPES = {str: "CephString", int: "CephInt", float: "CephFloat", bool: "CephBool"}
# Parameters that are not command arguments: the input buffer and the --format asked for.
_SPECIAL = ("inbuf", "format")


def _ceph_arg(name: str, annotation: Any, has_default: bool) -> Tuple[str, Callable]:
    """One argument's descriptor (`name=x,type=CephInt,req=false`) and its converter."""
    required = not has_default
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, getattr(_pytypes, "UnionType", None)) and type(None) in args:
        # Optional[T], T | None
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"argument {name}: one type besides None")
        annotation, required = rest[0], False
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    many = ""
    if origin in (list, List):  # List[T]: every remaining word
        annotation, many = (args[0] if args else str), ",n=N"
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        desc, convert = "CephChoices,strings=" + "|".join(map(str, args)), str
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = [str(m.value) for m in annotation]
        desc, convert = "CephChoices,strings=" + "|".join(values), annotation
    elif annotation in _CEPH_TYPES:
        desc, convert = _CEPH_TYPES[annotation], annotation
        if annotation is bool:
            required = False
            convert = lambda v: v if isinstance(v, bool) else str(v).lower() in ("true", "1", "yes")
    else:
        raise TypeError(f"argument {name}: annotate it str, int, float, bool, "
                        f"Optional[...], List[...], Literal[...] or an Enum, not {annotation!r}")
    text = f"name={name},type={desc}{many}" + ("" if required else ",req=false")
    if many:
        item = convert
        convert = lambda v: [item(x) for x in (v if isinstance(v, list) else [v])]
    return text, convert


class CLICommand:
    """Declares the decorated method a command, as ceph's `CLICommand(prefix, perm)`:
    the signature from its parameters' annotations and defaults, the help from its
    docstring, dispatch by prefix. The method takes the arguments by name (and
    `inbuf`, `format` if it wants them) and returns `(retval, stdout, stderr)` or
    the output text; `async def` is allowed."""

    def __init__(self, prefix: str, perm: str = "rw"):
        if perm not in ("r", "w", "rw"):
            raise ValueError(f"{prefix}: perm is 'r', 'w' or 'rw'")
        self.prefix, self.perm = prefix, perm

    def __call__(self, func: Callable) -> Callable:
        sig = inspect.signature(func)
        hints = typing.get_type_hints(func)
        parts, self.converters, self.wants = [self.prefix], {}, set()
        for i, (name, param) in enumerate(sig.parameters.items()):
            if i == 0:
                continue  # self
            if name in _SPECIAL:
                self.wants.add(name)
                continue
            if name == "prefix":
                raise TypeError(f"{self.prefix}: `prefix` is the command's own key")
            if name not in hints:
                raise TypeError(f"{self.prefix}: annotate argument {name} (str, int, ...)")
            text, convert = _ceph_arg(name, hints[name],
                                      param.default is not inspect.Parameter.empty)
            parts.append(text)
            self.converters[name] = convert
        self.cmd = " ".join(parts)
        self.desc = " ".join((inspect.getdoc(func) or "").split())
        self.func = func
        func._wasm_mgr_command = self
        return func

    async def call(self, module: "MgrModule", cmd: Dict[str, Any], inbuf: str) -> Tuple[int, str, str]:
        kwargs = {name: convert(cmd[name]) for name, convert in self.converters.items()
                  if cmd.get(name) is not None}
        if "inbuf" in self.wants:
            kwargs["inbuf"] = inbuf
        if "format" in self.wants and cmd.get("format") is not None:
            kwargs["format"] = cmd["format"]
        answer = self.func(module, **kwargs)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer


class CLIReadCommand(CLICommand):
    """A command that only reads (perm `r`): `@CLIReadCommand("iostat")`."""

    def __init__(self, prefix: str):
        super().__init__(prefix, perm="r")


class CLIWriteCommand(CLICommand):
    """A command that changes things (perm `rw`): `@CLIWriteCommand("tally add")`."""

    def __init__(self, prefix: str):
        super().__init__(prefix, perm="rw")


def _derived_commands(cls) -> Dict[str, CLICommand]:
    """The decorated methods of `cls` and its bases, by prefix, in the order written."""
    found = {}
    for klass in reversed(cls.__mro__):
        for value in vars(klass).values():
            command = getattr(value, "_wasm_mgr_command", None)
            if isinstance(command, CLICommand):
                found[command.prefix] = command
    return found


def _result(answer: Any) -> types.CommandResult:
    """A handler's answer as the contract's result: retval 0 or a negative errno."""
    if answer is None:
        answer = (0, "", "")
    elif isinstance(answer, str):
        answer = (0, answer, "")
    retval, out, err = answer
    return types.CommandResult(retval=-abs(int(retval)), stdout=str(out), stderr=str(err))


def log(message: str, level: str = "info") -> None:
    """Writes to the host's log, under the module's name."""
    mgr.log(_LEVELS.get(level, mgr.LogLevel.INFO), message)


class MgrModule:
    """Base class of a module. Override what you need; every method has a default."""

    MODULE_NAME = ""
    VERSION = "0.1.0"
    DESCRIPTION = ""
    MODULE_OPTIONS: List[Option] = []
    # Hand-written commands, served by `handle_command`; decorate handlers instead.
    COMMANDS: List[Command] = []
    NOTIFY_TYPES: List[str] = []
    HTTP = False

    # --- what the host calls -------------------------------------------------

    async def serve(self) -> None:
        """The module's loop; by default waits until shutdown."""
        while await self.sleep(60):
            pass

    async def notify(self, notify_type: str, notify_id: str) -> None:
        """Something in `NOTIFY_TYPES` changed (ceph-mgr's `notify`)."""

    async def handle_command(self, cmd: Dict[str, Any], inbuf: str) -> Tuple[int, str, str]:
        """A command of `COMMANDS` (ceph's dict with `prefix`) that no decorated
        handler serves: answer `(retval, stdout, stderr)`."""
        return -errno.EINVAL, "", f"unknown command: {cmd.get('prefix')}"

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """An HTTP request under `/modules/<name>/`; by default 404."""
        return self.http_text("not found", status=404)

    def shutdown(self) -> None:
        """The host is stopping the module; `sleep` returns False from now on."""

    # --- what the module calls: the cluster ----------------------------------

    def get(self, data_name: str) -> Any:
        """ceph-mgr's `get()`: `osd_map`, `pg_summary`, `io_rate`, `health`, ..."""
        return json.loads(_host(cluster.get, data_name))

    def get_epochs(self) -> types.Epochs:
        return cluster.get_epochs()

    def get_mon_map(self) -> types.MonMap:
        return cluster.get_mon_map()

    def get_osd_map(self) -> types.OsdMap:
        return cluster.get_osd_map()

    def get_fs_map(self) -> types.FsMap:
        return cluster.get_fs_map()

    def get_mgr_map(self) -> types.MgrMap:
        return cluster.get_mgr_map()

    def get_health(self) -> types.Health:
        return cluster.get_health()

    def get_pg_summary(self) -> types.PgSummary:
        return cluster.get_pg_summary()

    def get_df(self) -> types.Df:
        return cluster.get_df()

    def list_servers(self) -> List[types.Server]:
        return cluster.list_servers()

    def get_server(self, hostname: str) -> Optional[types.Server]:
        return cluster.get_server(hostname)

    def get_metadata(self, svc_type: str, svc_id: str) -> Optional[Dict[str, str]]:
        """A daemon's metadata (`osd`, `3`), as ceph-mgr's `get_metadata`."""
        pairs = cluster.get_metadata(svc_type, svc_id)
        return None if pairs is None else dict(pairs)

    def perf_counters(self, daemon_prefix: str = "", path_prefix: str = "") -> List[types.PerfCounter]:
        """Every counter of the daemons named `daemon_prefix*` under `path_prefix*`."""
        return cluster.perf_counters(daemon_prefix, path_prefix)

    def clog_tail(self, max: int = 100) -> List[types.ClogEntry]:
        """The newest `max` cluster log entries, oldest first."""
        return cluster.clog_tail(max)

    def have_mon_connection(self) -> bool:
        return cluster.have_mon_connection()

    # --- what the module calls: the manager ----------------------------------

    @property
    def module_name(self) -> str:
        return mgr.module_name()

    def get_mgr_id(self) -> str:
        """The id of the manager this host runs as (`mgr.<id>`)."""
        return mgr.mgr_id()

    def get_module_option(self, name: str, default: Any = None) -> Any:
        value = _host(mgr.get_option, name)
        return default if value is None else value.value

    def get_store(self, key: str, default: Optional[str] = None) -> Optional[str]:
        value = _host(mgr.get_store, key)
        return default if value is None else value

    def set_store(self, key: str, value: Optional[str]) -> None:
        _host(mgr.set_store, key, value)

    def get_store_prefix(self, prefix: str) -> Dict[str, str]:
        return dict(_host(mgr.list_store, prefix))

    def set_health_checks(self, checks: Dict[str, Dict[str, Any]]) -> None:
        """ceph-mgr's form: `{"CODE": {"severity": "warning", "summary": ..., "detail": [...]}}`."""
        wit = []
        for code, c in checks.items():
            severity = types.HealthStatus.ERR if c.get("severity") == "error" else types.HealthStatus.WARN
            wit.append(types.HealthCheck(code=code, severity=severity, summary=c.get("summary", ""),
                                         detail=list(c.get("detail", [])), count=int(c.get("count", 1))))
        _host(mgr.set_health_checks, wit)

    def log(self, message: str, level: str = "info") -> None:
        log(message, level)

    def cluster_log(self, channel: str, level: str, message: str) -> None:
        """Writes to the cluster log (`cluster` or `audit`)."""
        mgr.cluster_log(channel, _LEVELS.get(level, mgr.LogLevel.INFO), message)

    def shutdown_requested(self) -> bool:
        return mgr.is_shutting_down()

    async def sleep(self, seconds: float) -> bool:
        """Sleeps; False if woken early because the module is shutting down."""
        if mgr_async is None:
            return not _blocking.wait_for(seconds, mgr.is_shutting_down)
        return await mgr_async.sleep(int(seconds * 1000))

    async def send_command(self, command: Dict[str, Any], target: Any = "mon",
                           inbuf: str = "") -> Tuple[int, str, str]:
        """A command to the cluster (`target`: "mon", "mgr" or an OSD id)."""
        if target == "mon":
            t = types.CommandTarget_Mon()
        elif target == "mgr":
            t = types.CommandTarget_Mgr()
        else:
            t = types.CommandTarget_Osd(int(target))
        if mgr_async is None:
            r = _host(mgr_blocking.send_command, t, json.dumps(command), inbuf)
        else:
            r = await _host_async(mgr_async.send_command, t, json.dumps(command), inbuf)
        return r.retval, r.stdout, r.stderr

    async def remote(self, module: str, command: Dict[str, Any], inbuf: str = "") -> Tuple[int, str, str]:
        """Runs another module's command (ceph-mgr's `remote`)."""
        if mgr_async is None:
            r = _host(mgr_blocking.call_module, module, json.dumps(command), inbuf)
        else:
            r = await _host_async(mgr_async.call_module, module, json.dumps(command), inbuf)
        return r.retval, r.stdout, r.stderr

    def publish_http(self, path: str, body: bytes, content_type: str = "text/plain") -> None:
        """Has the host serve `body` at `path` itself, for many readers."""
        _host(mgr.publish_http, path, self.http_bytes(body, content_type))

    def unpublish_http(self, path: str) -> None:
        """Stops the host serving `path`; `handle_http` gets it again."""
        _host(mgr.publish_http, path, None)

    @staticmethod
    def http_bytes(body: bytes, content_type: str, status: int = 200) -> HttpResponse:
        return HttpResponse(status=status, headers=[("content-type", content_type)], body=body)

    @staticmethod
    def http_text(text: str, status: int = 200) -> HttpResponse:
        return MgrModule.http_bytes(text.encode(), "text/plain; charset=utf-8", status)

    @staticmethod
    def http_json(value: Any, status: int = 200) -> HttpResponse:
        return MgrModule.http_bytes(json.dumps(value).encode(), "application/json", status)


def _check_handler_order(cls) -> None:
    """ceph-mgr's `handle_command(self, inbuf, cmd)` takes its arguments the other way
    round; say so rather than hand a module the buffer as its command."""
    handler = cls.__dict__.get("handle_command")
    if handler is None:
        return
    names = list(inspect.signature(handler).parameters)
    if len(names) > 1 and names[1] == "inbuf":
        raise TypeError(f"{cls.__name__}.handle_command: wasm-mgr passes (cmd, inbuf), "
                        "in every SDK; ceph-mgr's order is (inbuf, cmd)")


def export(cls):
    """The component's exports (`WitWorld`) for module class `cls`."""
    for base in cls.__mro__:
        _check_handler_order(base)
    derived = _derived_commands(cls)

    # On the shared runtime the runtime's loader is the component's world; this
    # class only holds the module's exports.
    base = wit_world.WitWorld if mgr_async is not None else object

    class WitWorld(base):
        def __init__(self):
            self.module = _instance(cls)

        def describe(self) -> types.ModuleInfo:
            commands = [types.CommandDesc(cmd=c.cmd, desc=c.desc, perm=c.perm)
                        for c in list(cls.COMMANDS) + list(derived.values())]
            return types.ModuleInfo(
                name=cls.MODULE_NAME, version=cls.VERSION, description=cls.DESCRIPTION,
                options=[o._wit() for o in cls.MODULE_OPTIONS], commands=commands,
                notify=[_NOTIFY_KINDS[n] for n in cls.NOTIFY_TYPES],
                http=cls.HTTP, tick_interval_ms=None)

        async def serve(self) -> None:
            await self.module.serve()

        async def notify(self, notification: types.Notification) -> None:
            await self.module.notify(_NOTIFY_NAMES[notification.kind], notification.id)

        def on_shutdown(self) -> None:
            self.module.shutdown()

        async def handle_command(self, command: str, inbuf: str) -> types.CommandResult:
            cmd = json.loads(command)
            handler = derived.get(cmd.get("prefix"))
            try:
                if handler is not None:
                    answer = await handler.call(self.module, cmd, inbuf)
                else:
                    answer = await self.module.handle_command(cmd, inbuf)
            except HostError as e:
                answer = (-e.errno, "", e.message)
            except Exception:  # a bug in the handler: answered, as ceph-mgr does
                answer = (-errno.EINVAL, "", traceback.format_exc())
            return _result(answer)

        async def handle_http(self, request: types.HttpRequest) -> types.HttpResponse:
            return await self.module.handle_http(request)

    return WitWorld


class Adapter:
    """Runs a module's exports (`WitWorld = export(MyModule)`) on the shared
    runtime: its coroutines run to their end at once, since every host call
    there blocks."""

    def __init__(self, world):
        self.world = world
        self.shut = False

    def describe(self) -> types.ModuleInfo:
        return self.world.describe()

    def serve(self) -> None:
        _run(self.world.serve())

    def notify(self, notification: types.Notification) -> None:
        try:
            _run(self.world.notify(notification))
        except Exception:
            _blocking.log_failure("notify")

    def command(self, command: str, inbuf: str) -> types.CommandResult:
        try:
            return _run(self.world.handle_command(command, inbuf))
        except Exception:
            return _blocking.command_failed(f"command {command}")

    def http(self, request: types.HttpRequest) -> types.HttpResponse:
        try:
            return _run(self.world.handle_http(request))
        except Exception:
            _blocking.log_failure(f"HTTP {request.method} {request.path}")
            return HttpResponse(status=500, headers=[("content-type", "text/plain")],
                                body=b"the module failed; see the host log\n")

    def shutdown(self) -> None:
        if not self.shut:
            self.shut = True
            self.world.on_shutdown()


_instances: Dict[type, Any] = {}


def _instance(cls):
    """One module object per component instance, whatever the host's calls."""
    if cls not in _instances:
        _instances[cls] = cls()
    return _instances[cls]
