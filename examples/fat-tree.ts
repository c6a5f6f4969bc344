/**
 * A k=4 fat tree (20 routers, 16 leaves), statically routed with ECMP, pods routed natively:
 * `kinda up examples/fat-tree.ts` (`kinda graph examples/fat-tree.ts -o fat-tree.svg` to see it).
 * The first leaf is the control plane, every other leaf a worker.
 */
import { fatTree } from "../src/index.js";

export default fatTree({ name: "fat-tree", k: 4, controlPlanes: ["h1_1_1"], workers: "rest", encapsulation: "none" });
