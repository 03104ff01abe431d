"""`ceph_module`: the layer that ceph-mgr implements in C++ under Ceph's own
`mgr_module.py`, implemented here over wasm-mgr's imports.

Ceph's modules run unchanged: `mgr_module` (with `mgr_util` and `ceph_argparse`)
is the operator's own, imported from the installed Ceph on the runtime's
read-only Python path; it derives `MgrModule` from `BaseMgrModule` below, whose
`_ceph_*` methods answer from the host's cluster state, store, options, health and
command router. What needs Ceph's C++ (OSDMap and CRUSH calculations, perf
queries, a CephContext) raises `NotImplementedError` saying so.

`Adapter` runs one such module for the runtime: it registers its options and
commands as ceph-mgr does, describes it to the host and turns the host's calls
into `notify`, `_handle_command`, `serve` and `shutdown`.
"""

import errno
import json
import time

from componentize_py_types import Err
from wit_world.imports import cluster, mgr, mgr_blocking, types

import blocking
import wasm_mgr

# Ceph 16.2's defaults of the options its modules read, for those the cluster's
# configuration does not set.
_CEPH_OPTION_DEFAULTS = {
    "debug_mgr": "2/5",
    "log_to_file": False,
    "mgr_stats_period": 5,
    "mgr_tick_period": 2,
    "mon_pg_warn_max_object_skew": 10.0,
    "osd_pool_default_size": 3,
    "osd_pool_default_min_size": 0,
    "osd_pool_default_pg_num": 32,
    "mon_max_pg_per_osd": 250,
    "mon_target_pg_per_osd": 100,
    "mon_osd_min_in_ratio": 0.75,
    "mon_osd_down_out_interval": 600,
    "target_max_misplaced_ratio": 0.05,
    "device_failure_prediction_mode": "none",
    "mds_max_snaps_per_dir": 100,
    "rbd_default_pool": "rbd",
    "keyring": "",
    "mgr_module_path": "/usr/share/ceph/mgr",
}


def _typed(text):
    """A configuration value as ceph-mgr's typed options give it: booleans and
    numbers as such, anything else as text."""
    if not isinstance(text, str):
        return text
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text

# The SDK's tables, shared: notify kinds by ceph-mgr's names and option types,
# plus the option types only Ceph's modules declare (text to the host).
_NOTIFY_NAMES = wasm_mgr._NOTIFY_NAMES
_NOTIFY_KINDS = wasm_mgr._NOTIFY_KINDS
_OPTION_TYPES = dict(wasm_mgr._OPTION_TYPES, addr=types.OptionType.STR,
                     addrvec=types.OptionType.STR, uuid=types.OptionType.STR)
_option_value = wasm_mgr._option_value

_LOG_LEVELS = {
    "DEBUG": mgr.LogLevel.DEBUG, "INFO": mgr.LogLevel.INFO, "WARNING": mgr.LogLevel.WARN,
    "ERROR": mgr.LogLevel.ERROR, "CRITICAL": mgr.LogLevel.ERROR,
}
_CLOG_PRIO = [mgr.LogLevel.DEBUG, mgr.LogLevel.INFO, mgr.LogLevel.INFO,
              mgr.LogLevel.WARN, mgr.LogLevel.ERROR]

# A host error's errno, as the SDK answers it.
_ERRNO = {kind: number for kind, (_, number) in wasm_mgr._ERROR_KINDS.items()}

_RELEASES = {10: "jewel", 12: "luminous", 13: "mimic", 14: "nautilus",
             15: "octopus", 16: "pacific", 17: "quincy", 18: "reef", 19: "squid"}

# How ceph-mgr types perf counters (PERFCOUNTER_*): time 1, u64 2, long-run
# average 4, counter 8.
_COUNTER_TYPES = {
    types.CounterKind.GAUGE: 2,
    types.CounterKind.COUNTER: 2 | 8,
    types.CounterKind.AVERAGE: 1 | 4,
}


def _unsupported(what: str, why: str = "it needs ceph-mgr's C++ maps"):
    raise NotImplementedError(f"{what} is not available on wasm-mgr: {why}")


def _number(value):
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class BasePyOSDMap:
    """The OSD map as ceph-mgr's `OSDMap` wraps it: its epoch and JSON dump."""

    def __init__(self, dump=None):
        self._d = dump if dump is not None else json.loads(cluster.get("osd_map"))

    def _get_epoch(self):
        return self._d.get("epoch", 0)

    def _get_crush_version(self):
        return self._d.get("crush_version", 0)

    def _dump(self):
        return self._d

    def _get_crush(self):
        return BasePyCRUSH()

    def _new_incremental(self):
        return BasePyOSDMapIncremental(self._get_epoch() + 1)

    def _apply_incremental(self, inc):
        _unsupported("applying an OSD map incremental")

    def _get_pools_by_take(self, take):
        _unsupported("OSDMap.get_pools_by_take")

    def _calc_pg_upmaps(self, *args):
        _unsupported("OSDMap.calc_pg_upmaps")

    def _map_pool_pgs_up(self, poolid):
        _unsupported("OSDMap.map_pool_pgs_up")

    def _pg_to_up_acting_osds(self, pool_id, ps):
        _unsupported("OSDMap.pg_to_up_acting_osds")

    def _pool_raw_used_rate(self, pool_id):
        for pool in self._d.get("pools", []):
            if pool.get("pool") == pool_id:
                return float(pool.get("size", 1))
        return 1.0


class BasePyOSDMapIncremental:
    """An OSD map incremental; wasm-mgr cannot build or apply one."""

    def __init__(self, epoch=0):
        self._epoch = epoch

    def _get_epoch(self):
        return self._epoch

    def _dump(self):
        return {"epoch": self._epoch}

    def _set_osd_reweights(self, weightmap):
        _unsupported("OSDMapIncremental.set_osd_reweights")

    def _set_crush_compat_weight_set_weights(self, weightmap):
        _unsupported("OSDMapIncremental.set_crush_compat_weight_set_weights")


class BasePyCRUSH:
    """The CRUSH map; only its dump, where the host has one."""

    def _dump(self):
        try:
            return json.loads(cluster.get("osd_map_crush"))
        except Err:
            return {}

    def _get_item_weight(self, item):
        _unsupported("CRUSHMap.get_item_weight")

    def _get_item_name(self, item):
        for b in self._dump().get("buckets", []):
            if b.get("id") == item:
                return b.get("name")
        return None if item < 0 else f"osd.{item}"

    def _find_takes(self):
        _unsupported("CRUSHMap.find_takes")

    def _find_roots(self):
        _unsupported("CRUSHMap.find_roots")

    def _get_take_weight_osd_map(self, root):
        _unsupported("CRUSHMap.get_take_weight_osd_map")


class BaseMgrModule:
    """ceph-mgr's `BaseMgrModule`, over wasm-mgr's imports."""

    def __init__(self, py_modules_ptr=None, this_ptr=None):
        pass

    # --- identity and versions --------------------------------------------

    def _ceph_get_mgr_id(self):
        return mgr.mgr_id()

    def _ceph_get_version(self):
        for server in cluster.list_servers():
            if server.ceph_version:
                v = server.ceph_version
                return v if v.startswith("ceph version") else f"ceph version {v}"
        return "ceph version unknown (wasm-mgr)"

    def _ceph_get_release_name(self):
        version = self._ceph_get_version().split()
        try:
            major = int(version[2].split(".")[0])
        except (IndexError, ValueError):
            return "unknown"
        return self._ceph_lookup_release_name(major)

    def _ceph_lookup_release_name(self, major):
        return _RELEASES.get(int(major), "unknown")

    def _ceph_get_context(self):
        _unsupported("a CephContext", "wasm-mgr modules have no librados")

    def _ceph_get_ceph_conf_path(self):
        return ""

    # --- cluster state -------------------------------------------------------

    def _ceph_get(self, data_name):
        # ceph-mgr gives these two as {"json": "<the JSON text>"}, and "config" as
        # the manager's own options, name to value.
        if data_name in ("health", "mon_status"):
            return {"json": cluster.get(data_name)}
        if data_name == "config":
            return self._config()
        try:
            return json.loads(cluster.get(data_name))
        except Err:
            # ceph-mgr answers an unknown name with None (and logs it).
            mgr.log(mgr.LogLevel.WARN, f"get({data_name!r}): not known to wasm-mgr")
            return None

    def _config_entries(self):
        try:
            return json.loads(cluster.get("config"))
        except Err:
            return []

    def _config(self):
        me = f"mgr.{mgr.mgr_id()}"
        config = {k: str(v) if not isinstance(v, str) else v
                  for k, v in _CEPH_OPTION_DEFAULTS.items()}
        for section in ("global", "mgr", me):
            for entry in self._config_entries():
                if entry.get("section") == section and "name" in entry:
                    config[entry["name"]] = str(entry.get("value", ""))
        return config

    def _ceph_get_server(self, hostname):
        def info(server):
            return {
                "hostname": server.hostname,
                "services": [{"type": d.kind, "id": d.id} for d in server.daemons],
                "ceph_version": server.ceph_version,
            }
        if hostname is None:
            return [info(s) for s in cluster.list_servers()]
        server = cluster.get_server(hostname)
        return info(server) if server is not None else {}

    def _ceph_get_metadata(self, svc_type, svc_id):
        pairs = cluster.get_metadata(svc_type, str(svc_id))
        return None if pairs is None else dict(pairs)

    def _ceph_get_daemon_status(self, svc_type, svc_id):
        service_map = self._ceph_get("service_map") or {}
        daemon = service_map.get("services", {}).get(svc_type, {}).get("daemons", {}).get(str(svc_id))
        if not isinstance(daemon, dict):
            return None
        return daemon.get("status", {})

    def _ceph_have_mon_connection(self):
        return cluster.have_mon_connection()

    def _counters(self, svc_type, svc_name, path=""):
        prefix = f"{svc_type}." if svc_type else ""
        if svc_type and svc_name:
            prefix = f"{svc_type}.{svc_name}"
        return [c for c in cluster.perf_counters(prefix, path)
                if not svc_name or c.daemon == prefix]

    def _ceph_get_perf_schema(self, svc_type, svc_name):
        schema = {}
        for c in self._counters(svc_type, svc_name):
            schema.setdefault(c.daemon, {})[c.path] = {
                "type": _COUNTER_TYPES.get(c.kind, 2),
                "priority": 5,
                "units": 1,
                "description": c.description,
                "nick": "",
            }
        return schema

    def _ceph_get_counter(self, svc_type, svc_name, path):
        now = time.time()
        out = {path: []}
        for c in self._counters(svc_type, svc_name, path):
            if c.path != path:
                continue
            if c.kind == types.CounterKind.AVERAGE:
                out[path] = [(now, c.value, c.count)]
            else:
                out[path] = [(now, c.value)]
        return out

    def _ceph_get_latest_counter(self, svc_type, svc_name, path):
        data = self._ceph_get_counter(svc_type, svc_name, path)[path]
        return {path: data[-1] if data else ()}

    def _ceph_get_osdmap(self):
        import mgr_module
        return mgr_module.OSDMap() if hasattr(mgr_module, "OSDMap") else BasePyOSDMap()

    def _ceph_get_daemon_health_metrics(self):
        return {}

    def _ceph_get_osd_perf_counters(self, query_id):
        _unsupported("OSD perf queries")

    def _ceph_get_mds_perf_counters(self, query_id):
        _unsupported("MDS perf queries")

    def _ceph_add_osd_perf_query(self, query):
        _unsupported("OSD perf queries")

    def _ceph_remove_osd_perf_query(self, query_id):
        _unsupported("OSD perf queries")

    def _ceph_add_mds_perf_query(self, query):
        _unsupported("MDS perf queries")

    def _ceph_remove_mds_perf_query(self, query_id):
        _unsupported("MDS perf queries")

    def _ceph_reregister_mds_perf_queries(self):
        _unsupported("MDS perf queries")

    # --- options -------------------------------------------------------------

    def _ceph_get_module_option(self, module, key, localized_prefix=""):
        if module != mgr.module_name():
            # Another module's options are its own on wasm-mgr.
            return None
        try:
            value = mgr.get_option(key)
        except Err:
            return None
        return None if value is None else value.value

    def _ceph_set_module_option(self, module, key, val):
        if module != mgr.module_name():
            raise RuntimeError(f"module {mgr.module_name()} cannot set module {module}'s options")
        try:
            mgr.set_option(key, None if val is None else str(val))
        except Err as e:
            raise ValueError(f"{key}: {getattr(e.value, 'value', e.value)}") from None

    def _ceph_get_option(self, key):
        me = f"mgr.{mgr.mgr_id()}"
        found = {}
        for entry in self._config_entries():
            if entry.get("name") == key and entry.get("section") in ("global", "mgr", me):
                found[entry["section"]] = entry.get("value")
        for section in (me, "mgr", "global"):
            if section in found:
                return _typed(found[section])
        if key == "log_file":
            return f"/var/log/ceph/ceph-{me}.log"
        return _CEPH_OPTION_DEFAULTS.get(key)

    def _ceph_get_foreign_option(self, entity, key):
        return self._ceph_get_option(key)

    # --- store ---------------------------------------------------------------

    def _ceph_get_store(self, key):
        return mgr.get_store(key)

    def _ceph_set_store(self, key, val):
        mgr.set_store(key, val)

    def _ceph_get_store_prefix(self, prefix):
        return dict(mgr.list_store(prefix))

    # --- health, logs, commands ---------------------------------------------

    def _ceph_set_health_checks(self, checks):
        wit = []
        for code, c in checks.items():
            severity = (types.HealthStatus.ERR if c.get("severity") == "error"
                        else types.HealthStatus.WARN)
            wit.append(types.HealthCheck(
                code=code, severity=severity, summary=str(c.get("summary", "")),
                detail=[str(d) for d in c.get("detail", [])], count=int(c.get("count", 1) or 1)))
        mgr.set_health_checks(wit)

    def _ceph_log(self, message):
        # Ceph's handler formats "[module LEVEL logger] message".
        parts = message.split(None, 2)
        level = _LOG_LEVELS.get(parts[1], mgr.LogLevel.INFO) if len(parts) > 1 else mgr.LogLevel.INFO
        mgr.log(level, message)

    def _ceph_cluster_log(self, channel, priority, message):
        level = _CLOG_PRIO[priority] if 0 <= priority < len(_CLOG_PRIO) else mgr.LogLevel.INFO
        mgr.cluster_log(channel, level, message)

    def _ceph_send_command(self, result, svc_type, svc_id, command, tag, inbuf=None):
        if svc_type == "mon":
            target = types.CommandTarget_Mon()
        elif svc_type == "mgr":
            target = types.CommandTarget_Mgr()
        elif svc_type == "osd":
            target = types.CommandTarget_Osd(int(svc_id))
        else:
            result.complete(-errno.EINVAL, "", f"wasm-mgr sends commands to mon, mgr and osd, not {svc_type}")
            return
        try:
            r = mgr_blocking.send_command(target, command, inbuf or "")
            result.complete(r.retval, r.stdout, r.stderr)
        except Err as e:
            result.complete(-_ERRNO.get(type(e.value), errno.EIO), "",
                            str(getattr(e.value, "value", e.value)))
        if tag:
            # ceph-mgr tells the module its command completed, from another
            # thread: here at the module's next wait.
            blocking.defer(lambda: _current.notify_named("command", tag))

    def _ceph_dispatch_remote(self, module_name, method_name, args, kwargs):
        call = json.dumps({"prefix": REMOTE_PREFIX, "method": method_name,
                           "args": list(args), "kwargs": dict(kwargs)})
        try:
            r = mgr_blocking.call_module(module_name, call, "")
        except Err as e:
            raise ImportError(f"module {module_name}: {getattr(e.value, 'value', e.value)}") from None
        if r.retval != 0:
            raise RuntimeError(r.stderr or f"{module_name}.{method_name} failed ({r.retval})")
        return json.loads(r.stdout) if r.stdout else None

    def _ceph_is_authorized(self, arguments):
        return True

    # --- what only the real manager has ------------------------------------

    def _ceph_get_active_uri(self):
        return ""

    def _ceph_set_uri(self, uri):
        mgr.log(mgr.LogLevel.INFO, f"module serves {uri} (wasm-mgr serves modules under /modules/)")

    def _ceph_set_device_wear_level(self, devid, wear_level):
        _unsupported("device wear levels", "the manager's device table lives in ceph-mgr")

    def _ceph_register_client(self, addrs):
        pass  # a librados client to blocklist on failover: wasm-mgr modules have none

    def _ceph_unregister_client(self, addrs):
        pass

    def _ceph_update_progress_event(self, evid, desc, progress, add_to_ceph_s):
        mgr.log(mgr.LogLevel.INFO, f"progress {evid}: {desc} {progress:.0%}")

    def _ceph_complete_progress_event(self, evid):
        mgr.log(mgr.LogLevel.INFO, f"progress {evid}: complete")

    def _ceph_clear_all_progress_events(self):
        pass


class BaseMgrStandbyModule(BaseMgrModule):
    """ceph-mgr's standby side; wasm-mgr's standbys run no modules."""


# A call from another module's `remote()`: the method to run, with its arguments.
REMOTE_PREFIX = "__remote__"

_current = None  # the Adapter of this instance's module


class Adapter:
    """Runs one Ceph module (`mgr_module.MgrModule` subclass) for the runtime."""

    def __init__(self, name, cls):
        global _current
        _current = self
        self.name = name
        cls._register_options(name)
        cls._register_commands(name)
        self.cls = cls
        self.module = cls(name, None, None)
        declared = getattr(cls, "NOTIFY_TYPES", None)
        # A module that declares none gets every notification, as in ceph-mgr.
        names = list(_NOTIFY_NAMES.values()) if declared is None else [str(getattr(n, "value", n)) for n in declared]
        self.notify_kinds = [_NOTIFY_KINDS[n] for n in names if n in _NOTIFY_KINDS]
        if types.NotifyKind.CONFIG not in self.notify_kinds:
            self.notify_kinds.append(types.NotifyKind.CONFIG)
        self.shut = False

    def describe(self) -> types.ModuleInfo:
        options = []
        for o in self.cls.MODULE_OPTIONS:
            kind = _OPTION_TYPES.get(o.get("type", "str"), types.OptionType.STR)
            default = o.get("default")
            if default is not None and "type" not in o:
                default = str(default)
            options.append(types.ModuleOption(
                name=o["name"], kind=kind, default=_option_value(default),
                description=str(o.get("desc") or ""), min=_number(o.get("min")),
                max=_number(o.get("max")),
                allowed=[str(a) for a in (o.get("enum_allowed") or [])]))
        commands = [types.CommandDesc(cmd=c["cmd"], desc=str(c.get("desc", "")),
                                      perm=("r" if c.get("perm", "rw") == "r" else "rw"))
                    for c in self.cls.COMMANDS]
        doc = (self.cls.__doc__ or "").strip().splitlines()
        # ceph-mgr's modules have Ceph's version: "ceph version 16.2.15 (...)".
        words = str(self.module.version).split()
        version = words[2] if len(words) > 2 and words[0] == "ceph" else str(self.module.version)
        return types.ModuleInfo(
            name=self.name, version=version, description=doc[0] if doc else "",
            options=options, commands=commands, notify=self.notify_kinds, http=False,
            tick_interval_ms=None)

    def serve(self) -> None:
        self.module.serve()

    def notify(self, notification: types.Notification) -> None:
        self.notify_named(_NOTIFY_NAMES[notification.kind], notification.id)

    def notify_named(self, name, notify_id) -> None:
        try:
            if name == "config":
                self.module._config_notify()
                return
            import mgr_module
            kind = getattr(mgr_module, "NotifyType", None)
            try:
                name = kind(name) if kind is not None else name
            except ValueError:
                pass
            self.module.notify(name, notify_id)
        except Exception:
            blocking.log_failure(f"{self.name}.notify({name})")

    def command(self, command: str, inbuf: str) -> types.CommandResult:
        try:
            cmd = json.loads(command)
            if cmd.get("prefix") == REMOTE_PREFIX:
                return self._remote(cmd)
            r = self.module._handle_command(inbuf or None, cmd)
            retval, out, err = (r.retval, r.stdout, r.stderr) if hasattr(r, "retval") else r
            return types.CommandResult(retval=int(retval), stdout=str(out or ""), stderr=str(err or ""))
        except Exception:
            return blocking.command_failed(f"{self.name} command {command}")

    def _remote(self, cmd) -> types.CommandResult:
        method = getattr(self.module, cmd.get("method", ""), None)
        if method is None:
            return types.CommandResult(retval=-errno.ENOENT, stdout="",
                                       stderr=f"module {self.name} has no method {cmd.get('method')}")
        value = method(*cmd.get("args", []), **cmd.get("kwargs", {}))
        return types.CommandResult(retval=0, stdout=json.dumps(value), stderr="")

    def http(self, request: types.HttpRequest) -> types.HttpResponse:
        return types.HttpResponse(status=404, headers=[("content-type", "text/plain")],
                                  body=b"Ceph modules serve no HTTP under wasm-mgr\n")

    def shutdown(self) -> None:
        if self.shut:
            return
        self.shut = True
        try:
            self.module.shutdown()
        except Exception:
            blocking.log_failure(f"{self.name}.shutdown")
