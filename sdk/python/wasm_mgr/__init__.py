"""wasm-mgr's Python SDK: write a module as you would a ceph-mgr module.

A module is a class derived from `MgrModule` with ceph-mgr's vocabulary:
`MODULE_OPTIONS`, `COMMANDS`, `NOTIFY_TYPES`, `serve`, `notify`, `handle_command`,
`get`, `get_module_option`, `get_store`/`set_store`, `set_health_checks`,
`send_command`, `remote`, `log`. `export(MyModule)` turns it into the component's
exports; componentize-py builds it into a component for the `ceph:mgr` `module`
world, which the host runs like a Rust module, sandboxed the same way.

    from wasm_mgr import MgrModule, Option, Command, export

    class Hello(MgrModule):
        MODULE_NAME = "hello"
        COMMANDS = [Command("hello name=who,type=CephString,req=false", "Say hello")]

        async def handle_command(self, inbuf, cmd):
            return 0, f"hello {cmd.get('who', 'world')}", ""

    WitWorld = export(Hello)
"""

import json
from typing import Any, Dict, List, Optional, Tuple

import wit_world
from componentize_py_types import Err
from wit_world.imports import cluster, mgr, mgr_async, types

__all__ = [
    "MgrModule", "Option", "Command", "HttpRequest", "HttpResponse", "HostError",
    "export", "log",
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


class HostError(Exception):
    """A host call failed: `kind` is not_found, invalid, denied, unavailable or internal."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def _host(call, *args):
    """Runs a host import, turning its error variant into `HostError`."""
    try:
        return call(*args)
    except Err as e:
        kind = type(e.value).__name__.split("_", 1)[-1].lower()
        raise HostError(kind, getattr(e.value, "value", str(e.value))) from None


async def _host_async(call, *args):
    try:
        return await call(*args)
    except Err as e:
        kind = type(e.value).__name__.split("_", 1)[-1].lower()
        raise HostError(kind, getattr(e.value, "value", str(e.value))) from None


class Option:
    """A module option, as ceph-mgr's `Option(name, type=..., default=..., desc=...)`."""

    def __init__(self, name: str, type: str = "str", default: Any = None, desc: str = "",
                 min: Optional[float] = None, max: Optional[float] = None,
                 enum_allowed: Optional[List[str]] = None):
        if type not in _OPTION_TYPES:
            raise ValueError(f"option {name}: unknown type {type!r}")
        self.name, self.type, self.default, self.desc = name, type, default, desc
        self.min, self.max, self.allowed = min, max, enum_allowed or []

    def _wit(self) -> types.ModuleOption:
        return types.ModuleOption(
            name=self.name, kind=_OPTION_TYPES[self.type], default=_option_value(self.default),
            description=self.desc, min=self.min, max=self.max, allowed=list(self.allowed))


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


class Command:
    """A command in ceph's signature syntax (`iostat name=width,type=CephInt,req=false`)."""

    def __init__(self, cmd: str, desc: str = "", perm: str = "r"):
        self.cmd, self.desc, self.perm = cmd, desc, perm


def log(message: str, level: str = "info") -> None:
    """Writes to the host's log, under the module's name."""
    mgr.log(_LEVELS.get(level, mgr.LogLevel.INFO), message)


class MgrModule:
    """Base class of a module. Override what you need; every method has a default."""

    MODULE_NAME = ""
    VERSION = "0.1.0"
    DESCRIPTION = ""
    MODULE_OPTIONS: List[Option] = []
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

    async def handle_command(self, inbuf: str, cmd: Dict[str, Any]) -> Tuple[int, str, str]:
        """A command (ceph's dict with `prefix`): answer `(retval, stdout, stderr)`."""
        return -22, "", f"unknown command {cmd.get('prefix')}"

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """An HTTP request under `/modules/<name>/`; by default 404."""
        return self.http_text("not found", status=404)

    def shutdown(self) -> None:
        """The host is stopping the module; `sleep` returns False from now on."""

    # --- what the module calls ------------------------------------------------

    @property
    def module_name(self) -> str:
        return mgr.module_name()

    def get(self, data_name: str) -> Any:
        """ceph-mgr's `get()`: `osd_map`, `pg_summary`, `io_rate`, `health`, ..."""
        return json.loads(_host(cluster.get, data_name))

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

    async def sleep(self, seconds: float) -> bool:
        """Sleeps; False if woken early because the module is shutting down."""
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
        r = await _host_async(mgr_async.send_command, t, json.dumps(command), inbuf)
        return r.retval, r.stdout, r.stderr

    async def remote(self, module: str, command: Dict[str, Any], inbuf: str = "") -> Tuple[int, str, str]:
        """Runs another module's command (ceph-mgr's `remote`)."""
        r = await _host_async(mgr_async.call_module, module, json.dumps(command), inbuf)
        return r.retval, r.stdout, r.stderr

    def publish_http(self, path: str, body: bytes, content_type: str = "text/plain") -> None:
        """Has the host serve `body` at `path` itself, for many readers."""
        _host(mgr.publish_http, path, self.http_bytes(body, content_type))

    @staticmethod
    def http_bytes(body: bytes, content_type: str, status: int = 200) -> HttpResponse:
        return HttpResponse(status=status, headers=[("content-type", content_type)], body=body)

    @staticmethod
    def http_text(text: str, status: int = 200) -> HttpResponse:
        return MgrModule.http_bytes(text.encode(), "text/plain; charset=utf-8", status)

    @staticmethod
    def http_json(value: Any, status: int = 200) -> HttpResponse:
        return MgrModule.http_bytes(json.dumps(value).encode(), "application/json", status)


def export(cls):
    """The component's exports (`WitWorld`) for module class `cls`."""

    class WitWorld(wit_world.WitWorld):
        def __init__(self):
            self.module = _instance(cls)

        def describe(self) -> types.ModuleInfo:
            return types.ModuleInfo(
                name=cls.MODULE_NAME, version=cls.VERSION, description=cls.DESCRIPTION,
                options=[o._wit() for o in cls.MODULE_OPTIONS],
                commands=[types.CommandDesc(cmd=c.cmd, desc=c.desc, perm=c.perm) for c in cls.COMMANDS],
                notify=[_NOTIFY_KINDS[n] for n in cls.NOTIFY_TYPES],
                http=cls.HTTP, tick_interval_ms=None)

        async def serve(self) -> None:
            await self.module.serve()

        async def notify(self, notification: types.Notification) -> None:
            await self.module.notify(_NOTIFY_NAMES[notification.kind], notification.id)

        def on_shutdown(self) -> None:
            self.module.shutdown()

        async def handle_command(self, command: str, inbuf: str) -> types.CommandResult:
            try:
                retval, out, err = await self.module.handle_command(inbuf, json.loads(command))
            except HostError as e:
                retval, out, err = -5, "", str(e)
            return types.CommandResult(retval=retval, stdout=out, stderr=err)

        async def handle_http(self, request: types.HttpRequest) -> types.HttpResponse:
            return await self.module.handle_http(request)

    return WitWorld


_instances: Dict[type, Any] = {}


def _instance(cls):
    """One module object per component instance, whatever the host's calls."""
    if cls not in _instances:
        _instances[cls] = cls()
    return _instances[cls]
