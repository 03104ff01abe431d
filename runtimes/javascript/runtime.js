// wasm-mgr's shared JavaScript runtime: one componentize-js engine (SpiderMonkey in
// StarlingMonkey), built once for ceph:mgr@0.2.0's `runtime` world, that runs one
// module given as plain source per instance.
//
// The host instantiates this component once per `NAME.js` in the modules folder and
// calls `load(name, source)` with its text. The module convention is CommonJS's:
// the file is evaluated as the body of a function of `exports`, `require`,
// `module` and `wasmMgr` (the SDK, sdk/js/wasm-mgr.js, which `require('wasm-mgr')`
// also returns; there is nothing else to require, and no `import`), and sets
// `module.exports` to its class (extending `MgrModule`; the runtime makes the one
// instance) or to an instance of it:
//
//   const { MgrModule, readCommand } = require('wasm-mgr');
//   class Hello extends MgrModule {
//     static COMMANDS = { hello: readCommand('hello', 'Say hello', { who: 'str?' }) };
//     hello({ who = 'world' }) { return `hello ${who}`; }
//   }
//   module.exports = Hello;
//
// The module is named after its file. Its loop is its own `serve()` if it defines
// one, blocking in `this.sleep(seconds)` (or an `Event`'s `wait`), inside which the
// host hands over its notifies, commands, HTTP requests and shutdown; else, if it
// defines `tick()`, the runtime's loop runs `tick` every `TICK_MS` and the
// handed-over calls in between; else the host makes its calls one at a time.
//
// Nothing the module throws escapes into the host, where it would end the instance:
// a failed load answers its report (the exception and its stack), an exception out
// of `serve` answers its report (the host fails the instance, as ceph-mgr fails a
// module whose serve raised), a command that throws answers -EINVAL with it, and
// notifies, ticks and HTTP requests that throw are logged.

// The SDK, sdk/js/wasm-mgr.js, with this runtime's imports (imports.js) in place of
// its own: the Makefile writes it beside this file.
import * as core from './wasm-mgr.js';

// What a module sees as `wasmMgr` and `require('wasm-mgr')`.
const SDK = Object.freeze({
  errno: core.errno,
  HostError: core.HostError,
  Option: core.Option,
  command: core.command,
  readCommand: core.readCommand,
  writeCommand: core.writeCommand,
  MgrModule: core.MgrModule,
  Event: core.Event,
  waitFor: core.waitFor,
  report: core.report,
});

// Indirect eval: the module's code sees globals only, not this file's scope. The
// wrapper's head is on the module's first line, so line numbers in its reports
// are the file's own; `sourceURL` names its frames after its file.
const globalEval = eval;
const HEAD = '(function (exports, require, module, wasmMgr) {';

let adapter = null;

/** A syntax error in the module's text, as a report: where, and that line. */
function syntaxReport(e, file, source) {
  const line = Number(e.lineNumber) || 0;
  let column = Number(e.columnNumber) || 0;
  if (line === 1) column = Math.max(1, column - HEAD.length);
  const text = (source.split('\n')[line - 1] || '').replace(/\t/g, ' ');
  let hint = '';
  if (/\b(import|export) declarations\b/.test(e.message)) {
    hint = "\n(a module on the shared runtime is a script: `const { MgrModule } = require('wasm-mgr');` " +
      'and `module.exports = MyModule;`, no import or export)';
  }
  const caret = `${' '.repeat(Math.max(0, column - 1))}^`;
  return `SyntaxError: ${e.message}\n    at ${file}:${line}:${column}\n${text}\n${caret}${hint}`;
}

/** Evaluates the module's text; its object (the instance of its class). */
function evaluate(name, source) {
  const file = `${name}.js`;
  const module = { exports: {}, id: name, filename: file };
  const require = (spec) => {
    if (spec === 'wasm-mgr' || spec === './wasm-mgr.js' || spec === './wasm-mgr') return SDK;
    throw new Error(`${file}: require('${spec}'): a module on the shared runtime has only 'wasm-mgr'`);
  };
  let body;
  try {
    body = globalEval(`${HEAD}${source}\n})\n//# sourceURL=${file}\n`);
  } catch (e) {
    if (e instanceof SyntaxError) throw new LoadError(syntaxReport(e, file, source));
    throw e;
  }
  body.call(module.exports, module.exports, require, module, SDK);
  let exported = module.exports;
  if (exported && typeof exported === 'object' && !(exported instanceof core.MgrModule)
      && exported.Module !== undefined) {
    exported = exported.Module; // `exports.Module = ...`, Ceph's name for the class
  }
  if (typeof exported === 'function') {
    if (!(exported.prototype instanceof core.MgrModule)) {
      throw new TypeError(`${file}: module.exports is a function that does not extend MgrModule`);
    }
    return new exported();
  }
  if (exported instanceof core.MgrModule) return exported;
  throw new TypeError(
    `${file} sets no module: end it with \`module.exports = MyModule;\` (a class extending ` +
    "MgrModule from require('wasm-mgr'))",
  );
}

/** A load failure already put into words. */
class LoadError extends Error {}

export function load(name, source) {
  try {
    if (source === undefined || source === null) {
      throw new Error('the JavaScript runtime takes a module as its source text; the host gave none');
    }
    adapter = new core.Adapter(evaluate(name, source), name);
  } catch (e) {
    adapter = null;
    // A string, not an Error: componentize-js answers it as the `err` of the result
    // (an Error would trap the instance).
    const why = e instanceof LoadError ? e.message : core.report(e);
    throw `loading JavaScript module ${name} failed:\n${why}`;
  }
}

function loaded() {
  if (adapter === null) throw new Error('no module loaded');
  return adapter;
}

export function describe() {
  return loaded().describe();
}

export function serve() {
  try {
    loaded().serve();
  } catch (e) {
    throw core.report(e);
  }
}

export function notify(notification) {
  loaded().notify(notification);
}

export function onShutdown() {
  loaded().shutdown();
}

export function handleCommand(command, inbuf) {
  return loaded().command(command, inbuf);
}

export function handleHttp(request) {
  return loaded().http(request);
}
