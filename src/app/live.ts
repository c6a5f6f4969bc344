/** Experiments on a lab that is up, for the CLI and library users: change, cut, capture, watch links. */
export {
  addDevice,
  addLink,
  removeDevice,
  removeLink,
  capture,
  captureArgv,
  changeLink,
  checkShaping,
  netemAvailable,
  type CaptureOptions,
  type LinkChange,
} from "../engine/live.js";
export { formatLinks, linkCounters, sampleLinks, withRates, type LinkCounters } from "../engine/watch.js";
export { StateStore } from "../state/store.js";
