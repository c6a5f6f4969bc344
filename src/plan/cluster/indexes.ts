/**
 * Each node's tunnel index: its VXLAN MAC and tunnel address, its GRE devices and /31s come from
 * it. It is allocated when the node is made (at `up`, or `kinda node add`) and kept in the
 * cluster's state, so that removing a node that is not the last one made and adding another
 * never gives the new one an index a node still holds (which a node's place in the list did).
 */

/** The lowest index none of `held` is. */
export function freeIndex(held: Iterable<number>): number {
  const taken = new Set(held);
  let i = 0;
  while (taken.has(i)) i++;
  return i;
}

/**
 * The index of every recorded node: its own when the state has one; a node recorded without
 * one (a state written before indexes) gets its place in the list, as it was planned then, or
 * the lowest free index when another node holds that place already.
 */
export function recordedIndexes(nodes: readonly { name: string; index?: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  const held = new Set<number>();
  for (const n of nodes)
    if (n.index !== undefined) {
      out[n.name] = n.index;
      held.add(n.index);
    }
  nodes.forEach((n, i) => {
    if (n.index !== undefined) return;
    const k = held.has(i) ? freeIndex(held) : i;
    out[n.name] = k;
    held.add(k);
  });
  return out;
}

/** The problems of a set of indexes: not a whole number from 0, or held by two nodes. */
export function indexIssues(index: Readonly<Record<string, number>>): { field: string; message: string }[] {
  const issues: { field: string; message: string }[] = [];
  const by = new Map<number, string>();
  for (const [name, i] of Object.entries(index)) {
    if (!Number.isInteger(i) || i < 0) issues.push({ field: `node ${name}`, message: `tunnel index ${i} is not a whole number from 0` });
    const other = by.get(i);
    if (other !== undefined) issues.push({ field: `node ${name}`, message: `tunnel index ${i} is node ${other}'s too` });
    by.set(i, name);
  }
  return issues;
}

/** The recorded nodes with a new one: each earlier node's index written down, the new one the lowest free. */
export function withAddedNode<T extends { name: string; index?: number }>(nodes: readonly T[], added: T): T[] {
  const held = recordedIndexes(nodes);
  return [...nodes.map((n) => ({ ...n, index: held[n.name]! })), { ...added, index: freeIndex(Object.values(held)) }];
}

/** The recorded nodes without one: the others keep their indexes (written down, for a state from before them). */
export function withoutNode<T extends { name: string; index?: number }>(nodes: readonly T[], name: string): T[] {
  const held = recordedIndexes(nodes);
  return nodes.filter((n) => n.name !== name).map((n) => ({ ...n, index: held[n.name]! }));
}
