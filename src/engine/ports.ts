/**
 * Published host ports checked before anything is created: a port some other program (or another
 * lab) holds makes Docker fail at start, halfway through a deploy, with a message that names
 * neither the device nor the field. Binding it for a moment here says which.
 */
import { createServer } from "node:net";
import type { Issue } from "../core/errors.js";
import type { Plan } from "../plan/lab.js";

/** Whether a TCP port can be bound on all addresses (what Docker does when it publishes it). */
export function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(false));
    srv.listen({ port, host: "0.0.0.0", exclusive: true }, () => srv.close(() => res(true)));
  });
}

export async function hostPortIssues(plan: Plan): Promise<Issue[]> {
  const issues: Issue[] = [];
  const seen = new Map<string, string>();
  for (const d of plan.devices) {
    const names = Object.entries(d.role?.portNames ?? {});
    for (const p of d.ports) {
      if (p.host === 0) continue;
      const name = names.find(([, guest]) => guest === p.guest)?.[0];
      const field = name ? `${name}Port` : "port";
      const key = `${p.protocol}/${p.host}`;
      const prev = seen.get(key);
      if (prev) issues.push({ device: d.name, field, message: `host port ${p.host}/${p.protocol} is also published by ${prev}` });
      else if (p.protocol === "tcp" && !(await tcpPortFree(p.host)))
        issues.push({ device: d.name, field, message: `host port ${p.host}/tcp is already in use on this machine; pick another` });
      seen.set(key, d.name);
    }
  }
  return issues;
}
