/**
 * The docs check, second half: every `kinda up PATH ...` the README and docs/ show for a file of
 * this repository parses, i.e. `kinda up PATH ... --dry-run` exits 0 (it loads, validates and plans
 * the topology; nothing is created). A P4 example whose compiled program is made by a `p4c` line
 * shown in the same code block (p4c cannot be had here) must fail naming exactly that missing
 * build output, and nothing else.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { kinda } from "../support/kinda.js";
import { ROOT } from "../support/env.js";

interface Shown {
  doc: string;
  line: number;
  args: string[];
  block: string;
}

function shownUps(): Shown[] {
  const docs = [
    "README.md",
    ...readdirSync(join(ROOT, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
  const out: Shown[] = [];
  for (const doc of docs) {
    const lines = readFileSync(join(ROOT, doc), "utf8").split("\n");
    let block: string[] | undefined;
    let start = 0;
    const blocks: { from: number; text: string }[] = [];
    lines.forEach((l, i) => {
      if (l.trimStart().startsWith("```")) {
        if (block) blocks.push({ from: start, text: block.join("\n") });
        block = block ? undefined : [];
        start = i + 1;
      } else block?.push(l);
    });
    // inline code outside blocks: `kinda up PATH ...`
    let fence = false;
    lines.forEach((l, i) => {
      if (l.trimStart().startsWith("```")) fence = !fence;
      if (fence) return;
      for (const m of l.matchAll(/`(?:sudo )?(?:npx )?kinda up ([^`]+)`/g)) {
        const [path, ...rest] = m[1]!.trim().split(/\s+/);
        if (path && existsSync(join(ROOT, path))) out.push({ doc, line: i + 1, args: [path, ...rest], block: "" });
      }
    });
    for (const b of blocks)
      b.text.split("\n").forEach((l, i) => {
        const m = /(?:^|\s)kinda up (\S+)((?: [^#]*)?)/.exec(l.replace(/#.*$/, ""));
        if (!m || !existsSync(join(ROOT, m[1]!))) return;
        const rest = (m[2] ?? "").trim().split(/\s+/).filter(Boolean);
        out.push({ doc, line: b.from + i + 1, args: [m[1]!, ...rest], block: b.text });
      });
  }
  return out;
}

describe("docs: every `kinda up` shown parses (--dry-run)", () => {
  const shown = shownUps();
  it("the docs show some", () => assert.ok(shown.length >= 2, `found ${shown.length}`));
  for (const s of shown) {
    it(`${s.doc}:${s.line}: kinda up ${s.args.join(" ")}`, async () => {
      const r = await kinda("up", ...s.args, "--dry-run");
      if (r.code === 0) return;
      const missing = [...r.stderr.matchAll(/(\S+) does not exist/g)].map((m) => m[1]!);
      const p4Only = missing.length > 0 && missing.every((p) => /\/examples\/p4\/build\//.test(p));
      assert.ok(p4Only && /\bp4c\b/.test(s.block), `kinda up ${s.args.join(" ")} --dry-run exited ${r.code}:\n${r.stderr}`);
    });
  }
});
