// osdwatch: a record of OSDs going up, down, in and out, written in JavaScript.
//
// A plain source module for the host's shared JavaScript runtime: copy it into the
// modules folder as it is (no build step). The runtime calls `tick` every TICK_MS
// and, between ticks, hands over `osd_map` notifies; each one compares the map
// with the last and records the changes (kept in the store, so they survive a
// restart or a reload). `osdwatch events [--format json]` lists them;
// `osdwatch status` says how many OSDs are up and in; `GET /modules/osdwatch/`
// answers the events as JSON.

const { MgrModule, Option, readCommand } = require('wasm-mgr');

class OsdWatch extends MgrModule {
  static MODULE_NAME = 'osdwatch';
  static DESCRIPTION = 'A record of OSDs going up, down, in and out (JavaScript)';
  static MODULE_OPTIONS = [
    Option('keep', { type: 'int', default: 100, min: 1, max: 10000, desc: 'Events kept' }),
  ];
  static COMMANDS = {
    showEvents: readCommand('osdwatch events', 'OSD state changes seen, oldest first'),
    showStatus: readCommand('osdwatch status', 'OSDs up and in, and what the module did'),
  };
  static NOTIFY_TYPES = ['osd_map'];
  static HTTP = true;
  static TICK_MS = 1000;

  constructor() {
    super();
    this.last = null;
    this.notifies = 0;
    this.ticks = 0;
    this.events = null;
  }

  loadEvents() {
    if (this.events === null) this.events = JSON.parse(this.getStore('events', '[]'));
    return this.events;
  }

  look() {
    const map = this.get('osd_map');
    const now = {};
    for (const o of map.osds) now[o.osd] = { up: o.up === 1, in: o.in === 1 };
    if (this.last !== null) {
      const events = this.loadEvents();
      for (const [id, s] of Object.entries(now)) {
        const was = this.last[id];
        if (!was) continue;
        if (was.up !== s.up) events.push({ epoch: map.epoch, osd: Number(id), change: s.up ? 'up' : 'down' });
        if (was.in !== s.in) events.push({ epoch: map.epoch, osd: Number(id), change: s.in ? 'in' : 'out' });
      }
      const keep = this.getModuleOption('keep', 100);
      if (events.length > keep) events.splice(0, events.length - keep);
      this.setStore('events', JSON.stringify(events));
    }
    this.last = now;
    return map;
  }

  tick() {
    this.ticks += 1;
    if (this.last === null) this.look();
  }

  notify(type) {
    this.notifies += 1;
    this.look();
  }

  showEvents({ format }) {
    const events = this.loadEvents();
    if (format === 'json' || format === 'json-pretty') return JSON.stringify(events);
    return events.map((e) => `e${e.epoch} osd.${e.osd} ${e.change}`).join('\n');
  }

  showStatus() {
    const map = this.get('osd_map');
    const up = map.osds.filter((o) => o.up === 1).length;
    const inn = map.osds.filter((o) => o.in === 1).length;
    return JSON.stringify({ osds: map.osds.length, up, in: inn, notifies: this.notifies, ticks: this.ticks });
  }

  handleHttp(request) {
    if (request.method === 'GET' && (request.path === '/' || request.path === '')) {
      return this.httpJson(this.loadEvents());
    }
    return this.httpText('not found', 404);
  }
}

module.exports = OsdWatch;
