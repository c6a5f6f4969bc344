/**
 * A full disk while staging (issue 28.2): the state root is a small tmpfs, and the lab's device
 * folders hold more than fits. `kinda up` must fail with a clear error (no space, naming where),
 * leave nothing half-made (no container, namespace, host link, rule, lab folder on the tmpfs),
 * and `kinda down` of the name must still work. Then, with room again, the same lab comes up.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { IMAGE_MAP_ARGS, ROOT, ensureTestEnv } from "../support/env.js";
import { assertNothingLeft, copyLab, hostLinks, kindaWith } from "../support/kinda.js";

const LAB = "f4-fulldisk";
const mnt = mkdtempSync(join(tmpdir(), "kinda-fulldisk-"));
let linksBefore: string[];
let lab: string;

before(() => {
  ensureTestEnv();
  linksBefore = hostLinks();
  // 512 KiB: room for the state and the small start-up files, not for the two 384 KiB files below
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", mnt]);
  lab = copyLab(join(ROOT, "examples", "labs", "two-routers"));
  for (const d of ["r1", "r2"]) {
    mkdirSync(join(lab, d, "opt"), { recursive: true });
    writeFileSync(join(lab, d, "opt", "blob"), randomBytes(384 << 10));
  }
});

after(() => {
  execFileSync("umount", [mnt]);
  rmSync(mnt, { recursive: true, force: true });
  rmSync(lab, { recursive: true, force: true });
});

const env = (): Record<string, string> => ({ KINDA_STATE_DIR: mnt });

describe("faults: a full disk while staging", () => {
  it("up fails naming the lack of space, leaves nothing half-made, and down works", async () => {
    const r = await kindaWith(env(), "up", lab, "--name", LAB, ...IMAGE_MAP_ARGS);
    assert.notEqual(r.code, 0, `up on a full state root succeeded:\n${r.stdout}`);
    const err = `${r.stdout}${r.stderr}`;
    assert.match(err, /ENOSPC|no space left/i, `up's error does not say the disk is full:\n${err}`);
    assert.ok(err.includes(mnt), `up's error does not name the state root ${mnt}:\n${err}`);
    console.log(
      `# up said: ${err
        .trim()
        .split("\n")
        .filter((l) => /error|hint/.test(l))
        .join(" | ")}`,
    );
    await assertNothingLeftHere();
    const labs = existsSync(join(mnt, "labs")) ? readdirSync(join(mnt, "labs")) : [];
    assert.deepEqual(labs, [], `lab folders left on the full state root: ${labs.join(", ")}`);
    const d = await kindaWith(env(), "down", LAB);
    assert.equal(d.code, 0, `down after the failed up failed:\n${d.stdout}${d.stderr}`);
    await assertNothingLeftHere();
  });

  it("with room again, the same lab comes up; the disk filled while it runs, down still removes it", async () => {
    for (const d of ["r1", "r2"]) rmSync(join(lab, d, "opt"), { recursive: true });
    const r = await kindaWith(env(), "up", lab, "--name", LAB, ...IMAGE_MAP_ARGS);
    assert.equal(r.code, 0, `up failed:\n${r.stdout}${r.stderr}`);
    // fill what is left of the tmpfs, as another program would
    const filler = join(mnt, "filler");
    let n = 0;
    try {
      for (;;) {
        appendFileSync(filler, randomBytes(4096));
        n++;
      }
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, "ENOSPC");
    }
    console.log(`# filled the state root with ${n * 4} KiB more`);
    const d = await kindaWith(env(), "down", LAB);
    assert.equal(d.code, 0, `down on a full disk failed:\n${d.stdout}${d.stderr}`);
    assert.match(d.stderr, /full/, "down does not say the disk is full");
    rmSync(filler);
    await assertNothingLeftHere();
  });
});

async function assertNothingLeftHere(): Promise<void> {
  // assertNothingLeft asks `kinda status` with the shared test state dir: ask this one too
  await assertNothingLeft(LAB, linksBefore);
  const st = await kindaWith(env(), "status", LAB);
  assert.notEqual(st.code, 0, `kinda status ${LAB} still finds the lab on the tmpfs`);
}
