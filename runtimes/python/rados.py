"""`rados` for modules on wasm-mgr: Ceph's `mgr_module` imports it, and a module
may catch its errors, but a module here has no librados (no sockets, no keyring):
the classes exist, and connecting says why it cannot."""


class Error(Exception):
    """Base of rados' errors."""


class ObjectNotFound(Error):
    pass


class PermissionError(Error):
    pass


class TimedOut(Error):
    pass


class Rados:
    """Refuses to connect: wasm-mgr modules reach the cluster through the host."""

    def __init__(self, *args, **kwargs):
        raise Error("librados is not available to wasm-mgr modules: use mon_command, "
                    "send_command and get() instead")
