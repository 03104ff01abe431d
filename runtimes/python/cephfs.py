"""`cephfs` for modules on wasm-mgr: Ceph's `mgr_util` imports it; a module here
has no libcephfs, so mounting says why it cannot."""


class Error(Exception):
    """Base of cephfs' errors."""


class ObjectNotFound(Error):
    pass


class PermissionError(Error):
    pass


class LibCephFS:
    """Refuses to mount: wasm-mgr modules have no libcephfs."""

    def __init__(self, *args, **kwargs):
        raise Error("libcephfs is not available to wasm-mgr modules")
