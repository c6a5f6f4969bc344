/** Places inside a topology spec, and the address checks links and segments share (compile.ts, segments.ts). */

/** Where in the spec: ["links", 3, "addresses", 0]. */
export type SpecPath = (string | number)[];

export interface SpecIssue {
  path: SpecPath;
  message: string;
}

/** Address checks shared by links and segments: canonical, outside kinda's ranges, used once, subnets apart. */
export interface AddressBook {
  address(path: SpecPath, addr: string): void;
  /** Addresses that share one subnet, which no other link or segment overlaps. */
  subnet(owner: SpecPath, path: SpecPath, addrs: readonly string[]): void;
}
