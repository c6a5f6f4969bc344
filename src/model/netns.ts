/** A network namespace: a named one, a process's (containers), or the host's own. */
export type Netns = { name: string } | { pid: number } | { host: true };
