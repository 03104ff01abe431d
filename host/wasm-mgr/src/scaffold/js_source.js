// `{{name}}`: a wasm-mgr module in JavaScript, as plain source. The host runs it as
// it is from its modules folder, on its shared JavaScript runtime; saving the file
// reloads the module.

const { MgrModule, readCommand } = require('wasm-mgr');

class Plugin extends MgrModule {
  static MODULE_NAME = '{{name}}';
  static DESCRIPTION = 'A new module';
  static COMMANDS = { status: readCommand('{{name}} status', 'What the module has seen') };
  static NOTIFY_TYPES = ['osd_map'];

  constructor() {
    super();
    this.notifies = 0;
  }

  serve() {
    this.log('serving');
    while (this.sleep(5)) {
      // notifies and commands run inside the sleep
    }
  }

  notify() {
    this.notifies += 1;
  }

  status() {
    const epoch = this.get('osd_map').epoch;
    return [0, `osd map epoch ${epoch}, ${this.notifies} notifies`, ''];
  }
}

module.exports = Plugin;
