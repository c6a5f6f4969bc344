/**
 * The Kubernetes runtime as the engine sees it: a host cluster's API, reduced to what a lab needs
 * (nodes, one namespace, ConfigMaps, pods, exec). runtime/kube.ts is the real one, over
 * @kubernetes/client-node; app/root.ts makes it. Manifests are plain objects (the API's JSON).
 */
import type { ExecOptions, ExecResult } from "./container.js";

/** Where the host cluster is: a kubeconfig file and a context in it (defaults: the client's). */
export interface KubeTarget {
  kubeconfig?: string;
  context?: string;
}

export interface KubeNode {
  name: string;
  labels: Record<string, string>;
  ready: boolean;
  /** Unschedulable (cordoned) or tainted NoSchedule/NoExecute: the default spread leaves it out. */
  schedulable: boolean;
}

export interface KubePod {
  name: string;
  labels: Record<string, string>;
  /** Pending, Running, Succeeded, Failed, Unknown. */
  phase: string;
  /** The host node that runs it (empty until scheduled). */
  node: string;
  ip: string;
  /** Why it is not running, when a container says (ErrImagePull, CrashLoopBackOff, ...). */
  waiting?: string;
  /** The scheduler's word when it cannot place it (condition PodScheduled false). */
  unschedulable?: string;
}

/** A manifest as the API takes it (JSON). */
export type Manifest = Record<string, unknown>;

export interface KubeApi {
  /** Throws a KindaError naming the kubeconfig and context when the API server does not answer. */
  ping(): Promise<void>;
  nodes(): Promise<KubeNode[]>;
  /** The namespace's labels, or undefined when it does not exist (or is being deleted: `terminating`). */
  namespace(name: string): Promise<{ labels: Record<string, string>; terminating: boolean } | undefined>;
  createNamespace(name: string, labels: Record<string, string>): Promise<void>;
  /** Deletes it and waits until it is gone (everything in it with it); no error if it is gone. */
  deleteNamespace(name: string, timeoutMs?: number): Promise<void>;
  create(namespace: string, manifest: Manifest): Promise<void>;
  /** Deletes a Pod or ConfigMap of the namespace and waits until it is gone; no error if it is gone. */
  remove(namespace: string, kind: "Pod" | "ConfigMap", name: string, timeoutMs?: number): Promise<void>;
  pods(namespace: string, labels?: Record<string, string>): Promise<KubePod[]>;
  /** In the pod's container `container` (default: "device", the container of a lab's device pod). */
  exec(namespace: string, pod: string, argv: string[], opts?: ExecOptions & { container?: string }): Promise<ExecResult>;
}
