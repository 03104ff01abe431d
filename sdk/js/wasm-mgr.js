// wasm-mgr's JavaScript SDK: write a module as a class, as a ceph-mgr module. One
// file, for both ways a JavaScript module runs:
//
// - as plain source, `NAME.js` in the modules folder, on the host's shared
//   JavaScript runtime (runtimes/javascript, ceph:mgr@0.2.0's `runtime` world),
//   which hands this SDK to the module as `require('wasm-mgr')` (and `wasmMgr`):
//
//     const { MgrModule, readCommand } = require('wasm-mgr');
//     class Hello extends MgrModule {
//       static COMMANDS = { hello: readCommand('hello', 'Say hello', { who: 'str?' }) };
//       hello({ who = 'world' }) { return `hello ${who}`; }
//     }
//     module.exports = Hello;
//
//   Its loop is its own `serve()`, blocking in `this.sleep(seconds)`, inside which
//   the host hands over its notifies, commands and HTTP requests; or the runtime
//   calls its `tick()` every TICK_MS and runs those calls in between.
//
// - built with componentize-js into a component of its own for ceph:mgr@0.1.0's
//   `module-sync` world (componentize-js cannot build async exports), with this
//   file copied beside `app.js`; the host calls `tick()` on the module's interval
//   and every other call one at a time, between ticks:
//
//     import { MgrModule, readCommand, exportModule } from './wasm-mgr.js';
//     class Hello extends MgrModule { ... }
//     export const { describe, tick, notify, onShutdown, handleCommand, handleHttp } =
//       exportModule(new Hello());
//
//     componentize-js --wit wit/0.1.0 --world-name module-sync \
//       --disable http --disable fetch-event -o hello.wasm app.js

// <imports> The contract's interfaces: those of ceph:mgr@0.1.0's `module-sync`
// world, as this file is; the shared runtime's build puts its own in their place
// (runtimes/javascript/imports.js: ceph:mgr@0.2.0's, with `inbox`).
import * as cluster from 'ceph:mgr/cluster@0.1.0';
import * as mgr from 'ceph:mgr/mgr@0.1.0';
import * as blocking from 'ceph:mgr/mgr-blocking@0.1.0';
// No handover here: nothing blocks in the `module-sync` world.
const inbox = null;
// </imports>

// Runs one call `inbox.wait` handed over (the runtime's serve sets it).
let dispatcher = null;
// Whether the module's shutdown ran (handed over, or called by the host).
let shutDown = false;

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
    this.name = 'HostError';
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

// A stack frame of the SDK or of the component's glue rather than of the module:
// a module's own file on the runtime is `NAME.js`, with no folder.
const SDK_FRAME = /@[^@]*\/(wasm-mgr|runtime|initializer)\.js:\d+:\d+$/;

/**
 * An exception as a report: its name and message, then its stack down to where
 * the SDK called into the module (a call handed over inside `serve`'s wait stops
 * there too, rather than going on into `serve`).
 */
export function report(e) {
  if (e instanceof Error) {
    const head = `${e.name || 'Error'}: ${e.message}`;
    const frames = typeof e.stack === 'string' ? e.stack.trimEnd().split('\n') : [];
    const kept = [];
    let inModule = false;
    for (const frame of frames) {
      if (SDK_FRAME.test(frame)) {
        if (inModule) break;
      } else {
        inModule = true;
      }
      kept.push(frame);
    }
    // An error of the SDK's own with no module frame: its message says it all.
    return inModule ? `${head}\n${kept.join('\n')}` : head;
  }
  try {
    return `uncaught ${typeof e}: ${typeof e === 'string' ? e : JSON.stringify(e)}`;
  } catch (_) {
    return `uncaught ${typeof e}: ${String(e)}`;
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

/**
 * A handler's answer as the contract's result: the output text, `[retval, stdout,
 * stderr]` or `{ retval, stdout, stderr }`; retval 0 or a negative errno (a
 * positive one is negated).
 */
function result(answer) {
  if (answer === undefined || answer === null) answer = [0, '', ''];
  if (typeof answer === 'string') answer = [0, answer, ''];
  if (typeof answer === 'number') answer = [answer, '', ''];
  if (!Array.isArray(answer)) answer = [answer.retval || 0, answer.stdout, answer.stderr];
  const [retval = 0, stdout = '', stderr = ''] = answer;
  const r = Number(retval) | 0;
  return { retval: r > 0 ? -r : r, stdout: String(stdout), stderr: String(stderr) };
}

// --- blocking waits (the shared runtime) --------------------------------------------

// Longest single host wait, in milliseconds; a longer one is several.
const SLICE_MS = 3600000;

const now = typeof performance !== 'undefined' && performance.now
  ? () => performance.now()
  : () => Date.now();

/**
 * Blocks for `seconds` (`undefined`: for ever) or until `until()` is true, running
 * the calls the host hands over meanwhile (notifies, commands, HTTP requests, the
 * shutdown) as ceph-mgr's other threads would enter the module. True if `until()`
 * became true. Only `serve` gets calls handed over; elsewhere this just sleeps.
 * Needs the shared runtime: a `module-sync` component cannot block, its host
 * calls `tick`.
 */
export function waitFor(seconds, until) {
  if (inbox === null) {
    throw new Error('waiting needs the shared JavaScript runtime; a module-sync component uses tick');
  }
  const deadline = seconds === undefined || seconds === null
    ? Infinity : now() + Math.max(0, Number(seconds) * 1000);
  for (;;) {
    if (until && until()) return true;
    const left = deadline - now();
    if (left <= 0) return until ? !!until() : false;
    const ms = Math.max(1, Math.min(SLICE_MS, Math.ceil(left)));
    const incoming = inbox.wait(BigInt(ms));
    if (incoming !== undefined && incoming !== null && dispatcher !== null) dispatcher(incoming);
  }
}

/**
 * ceph-mgr's `threading.Event` on the shared runtime: `serve` waits on it, a
 * command or `shutdown` (run inside that wait) sets it.
 */
export class Event {
  constructor() { this.flag = false; }
  set() { this.flag = true; }
  clear() { this.flag = false; }
  isSet() { return this.flag; }
  /** Waits until set or `seconds` passed; whether it is set. */
  wait(seconds) { return waitFor(seconds, () => this.flag); }
}

// --- the module class ----------------------------------------------------------------

/** Base class of a module; override what you need, every method has a default. */
export class MgrModule {
  /** Optional: the module is named after its file (`osdwatch.js` is `osdwatch`). */
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
  /** How often `tick` runs, in milliseconds (when the module defines `tick`). */
  static TICK_MS = 1000;

  // What the host calls. A module defines `serve` (a loop that blocks in
  // `this.sleep`, on the shared runtime) or `tick` (run every TICK_MS), or neither.
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
  /**
   * Sets one of the module's declared options, kept across restarts (ceph-mgr's
   * `set_module_option`); `undefined` returns it to its default. Shared runtime only.
   */
  setModuleOption(name, value) {
    if (typeof mgr.setOption !== 'function') {
      throw new HostError('denied', 'setting options needs the shared JavaScript runtime', errno.EOPNOTSUPP);
    }
    host(() => mgr.setOption(name, value === undefined || value === null ? undefined : String(value)));
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
  shutdownRequested() { return shutDown || mgr.isShuttingDown(); }
  /**
   * Sleeps `seconds`, running what the host hands over meanwhile; false if woken
   * early because the module is shutting down. Shared runtime only (in `serve`).
   */
  sleep(seconds) {
    return !waitFor(seconds, () => shutDown || mgr.isShuttingDown());
  }
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

function logFailure(what, e) {
  try {
    mgr.log('error', `${what} raised:\n${report(e)}`);
  } catch (_) { /* the log is the last resort */ }
}

/** Whether module object `m` defines `method` itself rather than inheriting the default. */
function overrides(m, method) {
  return typeof m[method] === 'function' && m[method] !== MgrModule.prototype[method];
}

/** The derived commands of module object `m`: `[{ cmd, desc, perm, prefix, method }]`. */
function derivedCommands(m) {
  const cls = m.constructor;
  if (cls.OPTIONS !== undefined) throw new TypeError(`${cls.name}: OPTIONS is now MODULE_OPTIONS, as ceph's`);
  if (cls.NAME !== undefined) throw new TypeError(`${cls.name}: NAME is now MODULE_NAME`);
  if (Array.isArray(cls.COMMANDS)) return [];
  return Object.entries(cls.COMMANDS || {}).map(([method, c]) => {
    if (typeof m[method] !== 'function') {
      throw new TypeError(`${cls.name}: command ${c.prefix} is keyed by ${method}, which is not a method`);
    }
    return { ...c, method };
  });
}

/**
 * Runs module object `m` for the host: its description, and every call with what
 * the module throws caught: a command that throws answers -EINVAL with the
 * exception and its stack (a `HostError`, its errno and message), a notify or
 * tick that throws is logged, an HTTP request that throws answers 500; nothing
 * escapes into the host, where it would end the instance.
 */
export class Adapter {
  /** `name`: the module's name when the class names none (the runtime's). */
  constructor(m, name = '') {
    if (!(m instanceof MgrModule)) throw new TypeError('a module is a class extending MgrModule');
    this.m = m;
    this.name = name;
    this.shut = false;
    const cls = m.constructor;
    const derived = derivedCommands(m);
    this.byPrefix = Object.fromEntries(derived.map((c) => [c.prefix, c]));
    const handWritten = Array.isArray(cls.COMMANDS) ? cls.COMMANDS : [];
    this.hasServe = overrides(m, 'serve');
    this.hasTick = overrides(m, 'tick');
    this.info = {
      name: cls.MODULE_NAME || name, version: String(cls.VERSION || ''), description: cls.DESCRIPTION || '',
      options: (cls.MODULE_OPTIONS || []).map((o) => ({
        name: o.name, kind: o.type || 'str', default: optionValue(o.default),
        description: o.desc || '', min: o.min, max: o.max, allowed: o.enum_allowed || [],
      })),
      commands: [...handWritten, ...derived].map((c) => ({ cmd: c.cmd, desc: c.desc || '', perm: c.perm || 'r' })),
      notify: (cls.NOTIFY_TYPES || []).map((n) => {
        if (!NOTIFY_KINDS[n]) throw new TypeError(`${cls.name}: unknown notify type ${n}`);
        return NOTIFY_KINDS[n];
      }),
      http: !!cls.HTTP,
      tickIntervalMs: Math.max(10, Number(cls.TICK_MS) || 1000),
    };
  }

  describe() { return this.info; }

  tick() {
    try {
      this.m.tick();
    } catch (e) {
      logFailure('tick', e);
    }
  }

  notify(n) {
    try {
      this.m.notify(NOTIFY_NAMES[n.kind], n.id);
    } catch (e) {
      logFailure(`notify ${NOTIFY_NAMES[n.kind]}`, e);
    }
  }

  command(command, inbuf) {
    let cmd;
    try {
      cmd = JSON.parse(command);
      const c = this.byPrefix[cmd.prefix];
      return result(c ? this.m[c.method](cmd, inbuf) : this.m.handleCommand(cmd, inbuf));
    } catch (e) {
      if (e instanceof HostError) return result([-e.errno, '', e.message]);
      // A bug in the handler: answered -EINVAL with the stack, as ceph-mgr does.
      const text = report(e);
      logFailure(`command ${cmd && cmd.prefix !== undefined ? cmd.prefix : command}`, e);
      return result([-errno.EINVAL, '', text]);
    }
  }

  http(request) {
    try {
      return this.m.handleHttp(request);
    } catch (e) {
      logFailure(`HTTP ${request.method} ${request.path}`, e);
      return {
        status: 500, headers: [['content-type', 'text/plain; charset=utf-8']],
        body: new TextEncoder().encode('the module failed; see the host log\n'),
      };
    }
  }

  shutdown() {
    if (this.shut) return;
    this.shut = true;
    shutDown = true;
    try {
      this.m.shutdown();
    } catch (e) {
      logFailure('shutdown', e);
    }
  }

  /** Runs one call that `inbox.wait` handed over. */
  dispatch(incoming) {
    switch (incoming.tag) {
      case 'notify':
        this.notify(incoming.val);
        break;
      case 'command':
        inbox.answerCommand(incoming.val.id, this.command(incoming.val.command, incoming.val.inbuf));
        break;
      case 'http':
        inbox.answerHttp(incoming.val.id, this.http(incoming.val.request));
        break;
      case 'shutdown':
        this.shutdown();
        break;
      default:
        break;
    }
  }

  /**
   * The module's loop on the shared runtime: its own `serve` if it defines one
   * (an exception escapes, and fails the instance); else, if it defines `tick`,
   * `tick` every TICK_MS with the handed-over calls run in between, until the
   * shutdown; else nothing (the host then makes its calls one at a time).
   */
  serve() {
    dispatcher = (incoming) => this.dispatch(incoming);
    if (this.hasServe) {
      this.m.serve();
      return;
    }
    if (!this.hasTick) return;
    const interval = this.info.tickIntervalMs;
    let next = now();
    while (!shutDown && !mgr.isShuttingDown()) {
      const left = next - now();
      if (left <= 0) {
        this.tick();
        next += interval;
        if (next < now()) next = now() + interval;
        continue;
      }
      const incoming = inbox.wait(BigInt(Math.max(1, Math.ceil(left))));
      if (incoming !== undefined && incoming !== null) this.dispatch(incoming);
    }
  }
}

/** The `module-sync` component's exports for module object `m`. */
export function exportModule(m) {
  const a = new Adapter(m);
  return {
    describe() { return a.describe(); },
    tick() { a.tick(); },
    notify(n) { a.notify(n); },
    onShutdown() { a.shutdown(); },
    handleCommand(command, inbuf) { return a.command(command, inbuf); },
    handleHttp(request) { return a.http(request); },
  };
}
