/** Bounded parallelism, shared by the engine and the bench so both measure the same thing. */
import { cpus } from "node:os";
import { KindaError } from "../core/errors.js";
import pLimit, { type LimitFunction } from "p-limit";

/** Default number of container operations in flight: enough to hide engine latency on 2 cores. */
export function defaultParallelism(): number {
  const env = Number(process.env["KINDA_PARALLELISM"]);
  if (Number.isInteger(env) && env > 0) return env;
  return Math.max(8, cpus().length * 4);
}

export function limiter(n = defaultParallelism()): LimitFunction {
  if (!Number.isSafeInteger(n) || n < 1) throw new KindaError(`parallelism ${n} is not a whole number of 1 or more`);
  return pLimit(n);
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // a dependant may never await it
  return { promise, resolve, reject };
}
