// `{{name}}`: a wasm-mgr module in JavaScript. Build it with
// `componentize-js --wit {{wit}} --world-name module-sync --disable http --disable fetch-event -o {{name}}.wasm app.js`
// and copy `{{name}}.wasm` into the host's modules folder.

import { MgrModule, exportModule, readCommand } from './wasm-mgr.js';

class Plugin extends MgrModule {
  static MODULE_NAME = '{{name}}';
  static DESCRIPTION = 'A new module';
  static COMMANDS = { status: readCommand('{{name}} status', 'What the module has seen') };
  static NOTIFY_TYPES = ['osd_map'];
  static TICK_MS = 5000;

  constructor() {
    super();
    this.notifies = 0;
  }

  notify() {
    this.notifies += 1;
  }

  status() {
    const epoch = this.get('osd_map').epoch;
    return [0, `osd map epoch ${epoch}, ${this.notifies} notifies`, ''];
  }
}

export const { describe, tick, notify, onShutdown, handleCommand, handleHttp } =
  exportModule(new Plugin());
