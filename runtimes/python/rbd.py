"""`rbd` for modules on wasm-mgr: some of Ceph's modules import it at the top
(telemetry, rbd_support); a module here has no librbd, so using it says why."""


class Error(Exception):
    """Base of rbd's errors."""


class ImageNotFound(Error):
    pass


class RBD:
    """Refuses to work: wasm-mgr modules have no librbd."""

    def __init__(self, *args, **kwargs):
        raise Error("librbd is not available to wasm-mgr modules")
