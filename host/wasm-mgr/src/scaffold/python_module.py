"""{{about}}"""

from wasm_mgr import CLIReadCommand, MgrModule, export


class Plugin(MgrModule):
    MODULE_NAME = "{{name}}"
    DESCRIPTION = "A new module"
    NOTIFY_TYPES = ["osd_map"]

    def __init__(self):
        self.notifies = 0

    async def serve(self):
        self.log("serving")
        while await self.sleep(5):
            pass

    async def notify(self, notify_type, notify_id):
        self.notifies += 1

    @CLIReadCommand("{{name}} status")
    def status(self):
        """What the module has seen"""
        epoch = self.get("osd_map")["epoch"]
        return 0, f"osd map epoch {epoch}, {self.notifies} notifies", ""


WitWorld = export(Plugin)
