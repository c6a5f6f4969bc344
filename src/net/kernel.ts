/** The host's kernel behind the engine's Kernel interface (model/kernel.ts). */
import type { Kernel } from "../model/kernel.js";
import { run } from "./exec.js";
import { ipBatch, ipBatchForce, netnsAdd, netnsDelete, netnsExists } from "./ip.js";

export const hostKernel: Kernel = { netnsExists, netnsAdd, netnsDelete, ipBatch, ipBatchForce, run };
