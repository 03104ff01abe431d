// wasm-mgr's JavaScript SDK: write a module as a class, as a ceph-mgr module.
//
// componentize-js builds it against the `module-sync` world (it cannot build async
// exports yet): the host calls `tick()` on the module's interval and every other
// call one at a time, between ticks. Operators and other modules cannot tell it
// from an async module.
//
//   import { MgrModule, exportModule } from './wasm-mgr.js';
//   class Hello extends MgrModule {
//     static NAME = 'hello';
//     static COMMANDS = [{ cmd: 'hello', desc: 'Say hello' }];
//     handleCommand(cmd) { return [0, 'hello', '']; }
//   }
//   export const { describe, tick, notify, onShutdown, handleCommand, handleHttp } =
//     exportModule(new Hello());

import * as cluster from 'ceph:mgr/cluster@0.1.0';
import * as mgr from 'ceph:mgr/mgr@0.1.0';
import * as blocking from 'ceph:mgr/mgr-blocking@0.1.0';

// ceph-mgr's notify types, by their wasm-mgr kind.
const NOTIFY_NAMES = {
  'mon-map': 'mon_map', 'osd-map': 'osd_map', 'fs-map': 'fs_map', 'mgr-map': 'mgr_map',
  'pg-summary': 'pg_summary', 'health': 'health', 'service-map': 'service_map',
  'clog': 'clog', 'command': 'command', 'config': 'config',
};
const NOTIFY_KINDS = Object.fromEntries(Object.entries(NOTIFY_NAMES).map(([k, v]) => [v, k]));

/** A host call failed; `kind` is not-found, invalid, denied, unavailable or internal. */
export class HostError extends Error {
  constructor(kind, message) {
    super(`${kind}: ${message}`);
    this.kind = kind;
  }
}

function host(call) {
  try {
    return call();
  } catch (e) {
    const payload = e && e.payload;
    if (payload && payload.tag) throw new HostError(payload.tag, payload.val);
    throw e;
  }
}

function optionValue(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return { tag: 'bool', val: v };
  if (typeof v === 'bigint') return { tag: 'int', val: v };
  if (Number.isInteger(v)) return { tag: 'int', val: BigInt(v) };
  if (typeof v === 'number') return { tag: 'float', val: v };
  return { tag: 'str', val: String(v) };
}

/** Base class of a module; override what you need, every method has a default. */
export class MgrModule {
  static NAME = '';
  static VERSION = '0.1.0';
  static DESCRIPTION = '';
  /** `[{ name, type: 'str'|'int'|'uint'|'float'|'bool'|'secs'|'size', default, desc, min, max }]` */
  static OPTIONS = [];
  /** `[{ cmd: 'osdwatch events name=n,type=CephInt,req=false', desc, perm: 'r' }]` */
  static COMMANDS = [];
  /** ceph-mgr's names: `osd_map`, `pg_summary`, `health`, ... */
  static NOTIFY_TYPES = [];
  static HTTP = false;
  /** How often the host calls `tick`, in milliseconds. */
  static TICK_MS = 1000;

  // What the host calls.
  tick() {}
  notify(notifyType, notifyId) {}
  /** `cmd` is ceph's dict with `prefix`; answer `[retval, stdout, stderr]`. */
  handleCommand(cmd, inbuf) { return [-22, '', `unknown command ${cmd.prefix}`]; }
  handleHttp(request) { return this.httpText('not found', 404); }
  shutdown() {}

  // What the module calls.
  get moduleName() { return mgr.moduleName(); }
  /** ceph-mgr's `get()`: `osd_map`, `pg_summary`, `health`, ... */
  get(dataName) { return JSON.parse(host(() => cluster.get(dataName))); }
  getModuleOption(name, dflt) {
    const v = host(() => mgr.getOption(name));
    if (v === undefined || v === null) return dflt;
    return typeof v.val === 'bigint' ? Number(v.val) : v.val;
  }
  getStore(key, dflt) {
    const v = host(() => mgr.getStore(key));
    return v === undefined || v === null ? dflt : v;
  }
  setStore(key, value) { host(() => mgr.setStore(key, value === undefined ? undefined : String(value))); }
  log(message, level = 'info') { mgr.log(level === 'warning' ? 'warn' : level, String(message)); }
  /** A command to the cluster; `target`: 'mon', 'mgr' or an OSD id. */
  sendCommand(command, target = 'mon', inbuf = '') {
    const t = target === 'mon' || target === 'mgr' ? { tag: target } : { tag: 'osd', val: Number(target) };
    const r = host(() => blocking.sendCommand(t, JSON.stringify(command), inbuf));
    return [r.retval, r.stdout, r.stderr];
  }
  /** Another module's command (ceph-mgr's `remote`). */
  remote(module, command, inbuf = '') {
    const r = host(() => blocking.callModule(module, JSON.stringify(command), inbuf));
    return [r.retval, r.stdout, r.stderr];
  }
  httpBytes(body, contentType, status = 200) {
    return { status, headers: [['content-type', contentType]], body };
  }
  httpText(text, status = 200) {
    return this.httpBytes(new TextEncoder().encode(text), 'text/plain; charset=utf-8', status);
  }
  httpJson(value, status = 200) {
    return this.httpBytes(new TextEncoder().encode(JSON.stringify(value)), 'application/json', status);
  }
}

/** The component's exports for module object `m`. */
export function exportModule(m) {
  const cls = m.constructor;
  return {
    describe() {
      return {
        name: cls.NAME, version: cls.VERSION, description: cls.DESCRIPTION,
        options: cls.OPTIONS.map((o) => ({
          name: o.name, kind: o.type || 'str', default: optionValue(o.default),
          description: o.desc || '', min: o.min, max: o.max, allowed: o.allowed || [],
        })),
        commands: cls.COMMANDS.map((c) => ({ cmd: c.cmd, desc: c.desc || '', perm: c.perm || 'r' })),
        notify: cls.NOTIFY_TYPES.map((n) => NOTIFY_KINDS[n]),
        http: cls.HTTP,
        tickIntervalMs: cls.TICK_MS,
      };
    },
    tick() { m.tick(); },
    notify(n) { m.notify(NOTIFY_NAMES[n.kind], n.id); },
    onShutdown() { m.shutdown(); },
    handleCommand(command, inbuf) {
      try {
        const [retval, stdout, stderr] = m.handleCommand(JSON.parse(command), inbuf);
        return { retval, stdout: String(stdout), stderr: String(stderr) };
      } catch (e) {
        return { retval: -5, stdout: '', stderr: String(e) };
      }
    },
    handleHttp(request) { return m.handleHttp(request); },
  };
}
