"""`tally`, in Python: keeps a total in the store, counts OSD-map notifies and
whether `serve` was running when they came. Its twin in Rust is
`tests/modules/tally`; one test runs against both."""

import json

from wasm_mgr import CLIReadCommand, CLIWriteCommand, MgrModule, export


class Tally(MgrModule):
    MODULE_NAME = "tally"
    DESCRIPTION = "Keeps a total; counts OSD-map notifies"
    NOTIFY_TYPES = ["osd_map"]
    HTTP = True

    def __init__(self):
        self.serving = False
        self.notifies = 0
        self.while_serving = 0

    def total(self) -> int:
        return int(self.get_store("total", "0"))

    async def serve(self):
        self.serving = True
        while await self.sleep(0.1):
            pass
        self.serving = False

    async def notify(self, notify_type, notify_id):
        self.notifies += 1
        if self.serving:
            self.while_serving += 1

    @CLIWriteCommand("tally add")
    def add(self, n: int):
        """Add n to the total"""
        self.set_store("total", str(self.total() + n))
        return 0, json.dumps({"total": self.total()}), ""

    @CLIReadCommand("tally total")
    def show_total(self):
        """The total"""
        return 0, json.dumps({"total": self.total()}), ""

    @CLIReadCommand("tally notifies")
    def show_notifies(self):
        """OSD-map notifies seen"""
        return 0, json.dumps({"notifies": self.notifies, "while_serving": self.while_serving}), ""

    async def handle_http(self, request):
        if request.method == "GET" and request.path == "/total":
            return self.http_json({"total": self.total()})
        return self.http_text("not found", status=404)


WitWorld = export(Tally)
