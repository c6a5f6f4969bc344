/**
 * Kathara lab directories (lab.conf, lab.dep, lab.ext, lab.kinda, <device>.startup, <device>/,
 * shared.*), read as they are. The work is done in kathara/: values.ts (value syntax), options.ts
 * (device options), conf.ts (lab.conf), files.ts (lab.ext, lab.dep, lab.kinda), lab.ts (the
 * directory on disk); this module is their public face, so importers need not know the split.
 */
export { parseMemory, parsePort, shellSplit } from "./kathara/values.js";
export { KNOWN_OPTIONS } from "./kathara/options.js";
export { parseLabConf, type ParsedLabConf } from "./kathara/conf.js";
export { findCycle, KINDA_SIDE_FILE, parseKindaSideFile, parseLabDep, parseLabExt } from "./kathara/files.js";
export { labNameFromDir, loadKatharaLab, sanitizeLabName, sysctlExists } from "./kathara/lab.js";
