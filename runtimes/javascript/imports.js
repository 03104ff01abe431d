// The contract's interfaces for the SDK inside the shared JavaScript runtime: the
// runtime's build puts these lines in place of the `<imports>` block of
// sdk/js/wasm-mgr.js (which holds ceph:mgr@0.1.0's `module-sync` ones).
import * as cluster from 'ceph:mgr/cluster@0.2.0';
import * as mgr from 'ceph:mgr/mgr@0.2.0';
import * as blocking from 'ceph:mgr/mgr-blocking@0.2.0';
// What `serve`'s waits block in, and how the calls handed over are answered.
import * as inbox from 'ceph:mgr/inbox@0.2.0';
