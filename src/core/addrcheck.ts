/**
 * The address checks that topology validation (topology/compile.ts, segments.ts) and the cluster
 * links' checks (plan/cluster/validate.ts) share: inside a reserved range, used twice, in one
 * subnet, subnets overlapping. Each caller words where the problem is; the checks are here.
 */
import { addressRange, contains, hostOf, isCidr, networkOf, overlaps } from "./addr.js";
import { DEFAULT_POD_CIDR, DEFAULT_TUNNEL_CIDR } from "./defaults.js";

/** A range addresses must stay out of, and how messages name it. */
export type Range = readonly [cidr: string, what: string];

/** The cluster's pod and tunnel ranges (the defaults unless given). */
export function clusterRanges(podCidr = DEFAULT_POD_CIDR, tunnelCidr = DEFAULT_TUNNEL_CIDR): Range[] {
  return [
    [podCidr, "the pod range"],
    [tunnelCidr, "the tunnel range"],
  ];
}

/** What is wrong with an address (a CIDR) being inside any of `ranges`: "ADDR is inside WHAT RANGE", one per range. */
export function rangeClashes(addr: string, ranges: readonly Range[]): string[] {
  return ranges.filter(([r]) => contains(r, addr)).map(([r, what]) => `${addr} is inside ${what} ${r}`);
}

/** Addresses in use and who uses each (several links of one owner may share one, e.g. a bridge's). */
export class AddressOwners {
  private readonly owners = new Map<string, string>();
  /** Records `owner` as the user of `cidr`'s address; returns the other owner that had it, if any. */
  claim(cidr: string, owner: string): string | undefined {
    const host = hostOf(cidr);
    const prev = this.owners.get(host);
    this.owners.set(host, owner);
    return prev !== undefined && prev !== owner ? prev : undefined;
  }
}

/** Do two addresses' subnets share any address (a /24 inside a /16 does)? */
export function inOneSubnet(a: string, b: string): boolean {
  return overlaps(networkOf(a), networkOf(b));
}

/** The first of `addrs` whose subnet is not exactly the first one's, if any. */
export function outsideFirstSubnet(addrs: readonly string[]): string | undefined {
  if (!addrs.length || !addrs.every(isCidr)) return undefined;
  const net = networkOf(addrs[0]!);
  return addrs.find((a) => networkOf(a) !== net);
}

/** Subnets seen so far, as numeric ranges (a generated fat tree has hundreds to compare pairwise). */
export class Subnets<T> {
  private readonly seen: { range: ReturnType<typeof addressRange>; owner: T }[] = [];
  /** Adds `cidr`'s network; returns the owner of a subnet seen before that overlaps it, if any. */
  add(cidr: string, owner: T): T | undefined {
    const range = addressRange(networkOf(cidr));
    const clash = this.seen.find((s) => s.range.family === range.family && s.range.first <= range.last && range.first <= s.range.last);
    this.seen.push({ range, owner });
    return clash?.owner;
  }
}
