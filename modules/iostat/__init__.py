"""iostat: the cluster's client read/write rates, as ceph-mgr's `iostat` module
prints them, written in Python.

`iostat [--width N] [--print-header]` prints the current rates as ceph's iostat
does; `iostat history [--format json]` lists the samples `serve` took every
`interval` seconds (the last `history` of them); `GET /modules/iostat/` answers the
latest sample as JSON.
"""

import json
import time
from typing import Optional

from wasm_mgr import CLIReadCommand, MgrModule, Option, export


def _bytes(n: float) -> str:
    """ceph's `format_bytes`: 1.2 KiB/s."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024.0
        i += 1
    return f"{n:.0f} {units[i]}/s" if i == 0 else f"{n:.1f} {units[i]}/s"


class Iostat(MgrModule):
    MODULE_NAME = "iostat"
    VERSION = "0.1.0"
    DESCRIPTION = "Client read/write rates of the cluster (ceph-mgr's iostat), in Python"
    MODULE_OPTIONS = [
        Option("interval", type="secs", default=5, min=1, desc="Seconds between samples"),
        Option("history", type="int", default=60, min=1, max=10000,
               desc="Samples kept for `iostat history`"),
    ]
    NOTIFY_TYPES = ["pg_summary"]
    HTTP = True

    def __init__(self):
        self.samples = []
        self.notifies = 0
        self.serving = False

    def rates(self) -> dict:
        """The rates in the latest PG statistics delta (ceph-mgr's `io_rate`)."""
        delta = self.get("io_rate")["pg_stats_delta"]
        s = delta["stat_sum"]
        dt = float(delta.get("stamp_delta") or 1.0) or 1.0
        rd, wr = s["num_read_kb"] * 1024 / dt, s["num_write_kb"] * 1024 / dt
        rd_ops, wr_ops = s["num_read"] / dt, s["num_write"] / dt
        return {
            "read_bytes_sec": rd, "write_bytes_sec": wr, "total_bytes_sec": rd + wr,
            "read_op_per_sec": rd_ops, "write_op_per_sec": wr_ops,
            "total_op_per_sec": rd_ops + wr_ops,
        }

    async def serve(self) -> None:
        self.serving = True
        self.log("sampling IO rates")
        while True:
            sample = dict(self.rates(), stamp=time.time())
            self.samples.append(sample)
            keep = int(self.get_module_option("history", 60))
            del self.samples[:-keep]
            self.set_store("samples_taken", str(int(self.get_store("samples_taken", "0")) + 1))
            if not await self.sleep(float(self.get_module_option("interval", 5))):
                break
        self.serving = False

    async def notify(self, notify_type: str, notify_id: str) -> None:
        if notify_type == "pg_summary":
            self.notifies += 1

    @CLIReadCommand("iostat")
    def iostat(self, width: int = 10, print_header: bool = False,
               format: Optional[str] = None):
        """Get IO rates"""
        r = self.rates()
        if format in ("json", "json-pretty"):
            return 0, json.dumps(r), ""
        cols = ["Read", "Write", "Total", "Read IOPS", "Write IOPS", "Total IOPS"]
        vals = [_bytes(r["read_bytes_sec"]), _bytes(r["write_bytes_sec"]),
                _bytes(r["total_bytes_sec"]), f"{r['read_op_per_sec']:.0f}",
                f"{r['write_op_per_sec']:.0f}", f"{r['total_op_per_sec']:.0f}"]
        out = "| " + " | ".join(v.rjust(width) for v in vals) + " |"
        if print_header:
            head = "| " + " | ".join(c.rjust(width) for c in cols) + " |"
            out = head + "\n" + out
        return 0, out, ""

    @CLIReadCommand("iostat history")
    def history(self, format: Optional[str] = None):
        """The samples taken so far, oldest first"""
        if format in ("json", "json-pretty"):
            return 0, json.dumps(self.samples), ""
        lines = [f"{s['stamp']:.0f}  rd {_bytes(s['read_bytes_sec'])}  "
                 f"wr {_bytes(s['write_bytes_sec'])}" for s in self.samples]
        return 0, "\n".join(lines), ""

    @CLIReadCommand("iostat stats")
    def stats(self):
        """What the module did: samples, notifies, serve loops"""
        stats = {
            "samples": len(self.samples),
            "samples_taken": int(self.get_store("samples_taken", "0")),
            "notifies": self.notifies,
            "serving": self.serving,
        }
        return 0, json.dumps(stats), ""

    async def handle_http(self, request):
        if request.method == "GET" and request.path in ("/", ""):
            latest = self.samples[-1] if self.samples else self.rates()
            return self.http_json(latest)
        return self.http_text("not found", status=404)


WitWorld = export(Iostat)
