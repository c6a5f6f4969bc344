/**
 * The docs check: every relative link in the README, SECURITY.md and docs/ resolves to a file of
 * the repository (and, for a link to a heading, to a heading of that file); and the README's
 * YAML example is the example file it names. Links that leave the repository (the seed's README
 * in ../shared, which a clone alone does not have) are listed, not followed.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const docs = [
  "README.md",
  "SECURITY.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, "")
    .replace(/[^\p{L}\p{N} -]/gu, "")
    .replace(/ /g, "-");
}

function headings(file: string): Set<string> {
  const out = new Set<string>();
  let fence = false;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("```")) fence = !fence;
    const m = !fence && /^#{1,6} (.*)$/.exec(line);
    if (m) out.add(slug(m[1]!));
  }
  return out;
}

/** Markdown links outside code: [text](target) and ![alt](target). */
function links(text: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  let fence = false;
  text.split("\n").forEach((line, i) => {
    if (line.startsWith("```")) fence = !fence;
    if (fence) return;
    const bare = line.replace(/`[^`]*`/g, "");
    for (const m of bare.matchAll(/\]\(([^)\s]+)\)/g)) out.push({ target: m[1]!, line: i + 1 });
  });
  return out;
}

describe("docs: links", () => {
  it("slug follows GitHub's rule", () => {
    assert.equal(slug("Scale, on a fat tree"), "scale-on-a-fat-tree");
    assert.equal(slug("Inside a device: the same as under Kathara"), "inside-a-device-the-same-as-under-kathara");
    assert.equal(slug("What `up` reads"), "what-up-reads");
  });

  for (const doc of docs) {
    it(`every relative link of ${doc} resolves`, () => {
      const file = join(ROOT, doc);
      const broken: string[] = [];
      for (const { target, line } of links(readFileSync(file, "utf8"))) {
        if (/^[a-z]+:/i.test(target)) continue; // http(s), mailto
        const [path, anchor] = target.split("#") as [string, string | undefined];
        const to = path === "" ? file : resolve(dirname(file), path);
        if (relative(ROOT, to).startsWith("..")) continue; // outside the repository (../shared)
        if (!existsSync(to)) {
          broken.push(`${doc}:${line}: ${target}: no such file`);
          continue;
        }
        if (anchor && statSync(to).isFile() && to.endsWith(".md") && !headings(to).has(anchor))
          broken.push(`${doc}:${line}: ${target}: no heading #${anchor} in ${relative(ROOT, to)}`);
      }
      assert.deepEqual(broken, []);
    });
  }

  it("the README's YAML example is the example file it names", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const block = /```yaml\n# (examples\/[\w.-]+\.yaml)[^\n]*\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, "the README shows a YAML example whose first line names its file under examples/");
    const file = readFileSync(join(ROOT, block[1]!), "utf8");
    const body = (s: string) =>
      s
        .split("\n")
        .filter((l) => l.trim() && !l.trimStart().startsWith("#"))
        .map((l) => l.replace(/ #.*$/, "").trimEnd());
    assert.deepEqual(body(block[2]!), body(file));
  });
});
