// wasm-mgr's JavaScript SDK: write a module as a class, as a ceph-mgr module.
//
// componentize-js builds it against the `module-sync` world (it cannot build async
// exports yet): the host calls `tick()` on the module's interval and every other
// call one at a time, between ticks. Operators and other modules cannot tell it
// from an async module.
//
//   import { MgrModule, readCommand, exportModule } from './wasm-mgr.js';
//   class Hello extends MgrModule {
//     static MODULE_NAME = 'hello';
//     static COMMANDS = { hello: readCommand('hello', 'Say hello', { who: 'str?' }) };
//     hello({ who = 'world' }) { return `hello ${who}`; }
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

/** Error numbers, as ceph-mgr modules return them: retval is 0 or `-errno.X`. */
export const errno = Object.freeze({
  EPERM: 1, ENOENT: 2, EIO: 5, EAGAIN: 11, EACCES: 13, EEXIST: 17, EINVAL: 22,
  ERANGE: 34, EOPNOTSUPP: 95, ETIMEDOUT: 110,
});

// A host error's kind, spelled as in every SDK, and the errno a command answers it with.
const ERROR_KINDS = {
  'not-found': ['not_found', errno.ENOENT], invalid: ['invalid', errno.EINVAL],
  denied: ['denied', errno.EACCES], unavailable: ['unavailable', errno.EAGAIN],
  internal: ['internal', errno.EIO],
};

/**
 * A host call failed. `kind` is not_found, invalid, denied, unavailable or internal;
 * `errno` what a command answers it with. Thrown in a command handler, it answers
 * `-errno` and the message.
 */
export class HostError extends Error {
  constructor(kind, message, errnum = errno.EIO) {
    super(`${kind}: ${message}`);
    this.kind = kind;
    this.message = message;
    this.errno = errnum;
  }
}

function host(call) {
  try {
    return call();
  } catch (e) {
    const payload = e && e.payload;
    if (payload && payload.tag) {
      const [kind, number] = ERROR_KINDS[payload.tag] || ['internal', errno.EIO];
      throw new HostError(kind, payload.val, number);
    }
    throw e;
  }
}

const OPTION_TYPES = ['str', 'int', 'uint', 'float', 'bool', 'secs', 'size'];

/**
 * A module option, as ceph-mgr's `Option(name, type=..., default=..., desc=...,
 * min=..., max=..., enum_allowed=[...])`: `Option('keep', { type: 'int', default: 100 })`.
 */
export function Option(name, { type = 'str', default: dflt, desc = '', min, max, enum_allowed = [] } = {}) {
  if (!OPTION_TYPES.includes(type)) throw new TypeError(`option ${name}: unknown type ${type}`);
  return { name, type, default: dflt, desc, min, max, enum_allowed };
}

function optionValue(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return { tag: 'bool', val: v };
  if (typeof v === 'bigint') return { tag: 'int', val: v };
  if (Number.isInteger(v)) return { tag: 'int', val: BigInt(v) };
  if (typeof v === 'number') return { tag: 'float', val: v };
  return { tag: 'str', val: String(v) };
}

// --- commands derived from a declared table, as ceph's CLICommand -------------------

const CEPH_TYPES = { str: 'CephString', int: 'CephInt', float: 'CephFloat', bool: 'CephBool' };

/**
 * One argument's descriptor in ceph's syntax. Short form: `'str'`, `'int'`,
 * `'float'`, `'bool'`, then `...` for every remaining word (`n=N`) and `?` for
 * optional (`req=false`); an array of words is `CephChoices`. Long form:
 * `{ type, choices, many, optional }`.
 */
function cephArg(name, spec) {
  if (name === 'prefix' || name === 'format') {
    throw new TypeError(`argument ${name}: the name is the command dict's own`);
  }
  let arg = spec;
  if (Array.isArray(spec)) arg = { choices: spec };
  if (typeof spec === 'string') {
    const m = /^(str|int|float|bool)(\.\.\.)?(\?)?$/.exec(spec);
    if (!m) throw new TypeError(`argument ${name}: ${spec} is not str, int, float or bool (with ... or ?)`);
    arg = { type: m[1], many: !!m[2], optional: !!m[3] };
  }
  const { type = 'str', choices, many = false, optional = false } = arg;
  if (!choices && !CEPH_TYPES[type]) throw new TypeError(`argument ${name}: unknown type ${type}`);
  const cephType = choices ? `CephChoices,strings=${choices.join('|')}` : CEPH_TYPES[type];
  const req = optional || type === 'bool' ? ',req=false' : '';
  return `name=${name},type=${cephType}${many ? ',n=N' : ''}${req}`;
}

/**
 * A command served by the method it is keyed by in `static COMMANDS`, as ceph's
 * `CLICommand(prefix, perm)`: `command('tally add', { perm: 'rw', desc, args: { n: 'int' } })`.
 * The method is called as `method(cmd, inbuf)`, `cmd` being ceph's dict (the
 * arguments by name, `prefix`, `format`), and returns the output text or
 * `[retval, stdout, stderr]`.
 */
export function command(prefix, { perm = 'rw', desc = '', args = {} } = {}) {
  if (!['r', 'w', 'rw'].includes(perm)) throw new TypeError(`${prefix}: perm is r, w or rw`);
  const parts = [prefix];
  for (const [name, spec] of Object.entries(args)) parts.push(cephArg(name, spec));
  return { cmd: parts.join(' '), desc, perm, prefix };
}

/** A command that only reads (perm `r`): `readCommand('osdwatch events', 'help', { n: 'int?' })`. */
export function readCommand(prefix, desc = '', args = {}) {
  return command(prefix, { perm: 'r', desc, args });
}

/** A command that changes things (perm `rw`): `writeCommand('tally add', 'help', { n: 'int' })`. */
export function writeCommand(prefix, desc = '', args = {}) {
  return command(prefix, { perm: 'rw', desc, args });
}

/** A handler's answer as the contract's result: retval 0 or a negative errno. */
function result(answer) {
  if (answer === undefined || answer === null) answer = [0, '', ''];
  if (typeof answer === 'string') answer = [0, answer, ''];
  const [retval, stdout = '', stderr = ''] = answer;
  const r = Number(retval);
  return { retval: r > 0 ? -r : r, stdout: String(stdout), stderr: String(stderr) };
}

/** Base class of a module; override what you need, every method has a default. */
export class MgrModule {
  static MODULE_NAME = '';
  static VERSION = '0.1.0';
  static DESCRIPTION = '';
  /** `[Option('keep', { type: 'int', default: 100, min: 1, desc: 'Events kept' })]` */
  static MODULE_OPTIONS = [];
  /**
   * `{ method: readCommand('osdwatch events', 'help', { n: 'int?' }) }`: each command
   * served by the method it is keyed by. An array of `{ cmd, desc, perm }` is the
   * hand-written way, served by `handleCommand`.
   */
  static COMMANDS = {};
  /** ceph-mgr's names: `osd_map`, `pg_summary`, `health`, ... */
  static NOTIFY_TYPES = [];
  static HTTP = false;
  /** How often the host calls `tick`, in milliseconds. */
  static TICK_MS = 1000;

  // What the host calls.
  tick() {}
  notify(notifyType, notifyId) {}
  /** A hand-written command (ceph's dict with `prefix`); answer `[retval, stdout, stderr]`. */
  handleCommand(cmd, inbuf) { return [-errno.EINVAL, '', `unknown command: ${cmd.prefix}`]; }
  handleHttp(request) { return this.httpText('not found', 404); }
  shutdown() {}

  // What the module calls: the cluster.
  /** ceph-mgr's `get()`: `osd_map`, `pg_summary`, `health`, ... */
  get(dataName) { return JSON.parse(host(() => cluster.get(dataName))); }
  getEpochs() { return cluster.getEpochs(); }
  getMonMap() { return cluster.getMonMap(); }
  getOsdMap() { return cluster.getOsdMap(); }
  getFsMap() { return cluster.getFsMap(); }
  getMgrMap() { return cluster.getMgrMap(); }
  getHealth() { return cluster.getHealth(); }
  getPgSummary() { return cluster.getPgSummary(); }
  getDf() { return cluster.getDf(); }
  listServers() { return cluster.listServers(); }
  getServer(hostname) { return cluster.getServer(hostname); }
  /** A daemon's metadata (`'osd', '3'`) as an object, as ceph-mgr's `get_metadata`. */
  getMetadata(svcType, svcId) {
    const pairs = cluster.getMetadata(svcType, String(svcId));
    return pairs === undefined || pairs === null ? undefined : Object.fromEntries(pairs);
  }
  /** Every counter of the daemons named `daemonPrefix*` under `pathPrefix*`. */
  perfCounters(daemonPrefix = '', pathPrefix = '') { return cluster.perfCounters(daemonPrefix, pathPrefix); }
  /** The newest `max` cluster log entries, oldest first. */
  clogTail(max = 100) { return cluster.clogTail(max); }
  haveMonConnection() { return cluster.haveMonConnection(); }

  // What the module calls: the manager.
  get moduleName() { return mgr.moduleName(); }
  /** The id of the manager this host runs as (`mgr.<id>`). */
  getMgrId() { return mgr.mgrId(); }
  getModuleOption(name, dflt) {
    const v = host(() => mgr.getOption(name));
    if (v === undefined || v === null) return dflt;
    return typeof v.val === 'bigint' ? Number(v.val) : v.val;
  }
  getStore(key, dflt) {
    const v = host(() => mgr.getStore(key));
    return v === undefined || v === null ? dflt : v;
  }
  setStore(key, value) {
    host(() => mgr.setStore(key, value === undefined || value === null ? undefined : String(value)));
  }
  getStorePrefix(prefix) { return Object.fromEntries(host(() => mgr.listStore(prefix))); }
  /** ceph-mgr's form: `{ CODE: { severity: 'warning', summary, detail: [...], count } }`. */
  setHealthChecks(checks) {
    const list = Object.entries(checks).map(([code, c]) => ({
      code, severity: c.severity === 'error' ? 'err' : 'warn', summary: c.summary || '',
      detail: (c.detail || []).map(String), count: BigInt(c.count === undefined ? 1 : c.count),
    }));
    host(() => mgr.setHealthChecks(list));
  }
  log(message, level = 'info') { mgr.log(logLevel(level), String(message)); }
  /** Writes to the cluster log (`cluster` or `audit`). */
  clusterLog(channel, level, message) { mgr.clusterLog(channel, logLevel(level), String(message)); }
  shutdownRequested() { return mgr.isShuttingDown(); }
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
  /** Has the host serve `response` (from `httpText`, `httpJson`, ...) at `path` itself. */
  publishHttp(path, response) { host(() => mgr.publishHttp(path, response)); }
  /** Stops the host serving `path`; `handleHttp` gets it again. */
  unpublishHttp(path) { host(() => mgr.publishHttp(path, undefined)); }
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

function logLevel(level) {
  return { warning: 'warn', warn: 'warn', debug: 'debug', error: 'error' }[level] || 'info';
}

/** The derived commands of module object `m`: `[{ cmd, desc, perm, prefix, method }]`. */
function derivedCommands(m) {
  const cls = m.constructor;
  if (cls.OPTIONS !== undefined) throw new TypeError(`${cls.name}: OPTIONS is now MODULE_OPTIONS, as ceph's`);
  if (cls.NAME !== undefined) throw new TypeError(`${cls.name}: NAME is now MODULE_NAME`);
  if (Array.isArray(cls.COMMANDS)) return [];
  return Object.entries(cls.COMMANDS).map(([method, c]) => {
    if (typeof m[method] !== 'function') {
      throw new TypeError(`${cls.name}: command ${c.prefix} is keyed by ${method}, which is not a method`);
    }
    return { ...c, method };
  });
}

/** The component's exports for module object `m`. */
export function exportModule(m) {
  const cls = m.constructor;
  const derived = derivedCommands(m);
  const byPrefix = Object.fromEntries(derived.map((c) => [c.prefix, c]));
  const handWritten = Array.isArray(cls.COMMANDS) ? cls.COMMANDS : [];
  return {
    describe() {
      return {
        name: cls.MODULE_NAME, version: cls.VERSION, description: cls.DESCRIPTION,
        options: cls.MODULE_OPTIONS.map((o) => ({
          name: o.name, kind: o.type || 'str', default: optionValue(o.default),
          description: o.desc || '', min: o.min, max: o.max, allowed: o.enum_allowed || [],
        })),
        commands: [...handWritten, ...derived].map((c) => ({ cmd: c.cmd, desc: c.desc || '', perm: c.perm || 'r' })),
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
        const cmd = JSON.parse(command);
        const c = byPrefix[cmd.prefix];
        return result(c ? m[c.method](cmd, inbuf) : m.handleCommand(cmd, inbuf));
      } catch (e) {
        if (e instanceof HostError) return result([-e.errno, '', e.message]);
        // A bug in the handler: answered, as ceph-mgr does.
        return result([-errno.EIO, '', String(e)]);
      }
    },
    handleHttp(request) { return m.handleHttp(request); },
  };
}
