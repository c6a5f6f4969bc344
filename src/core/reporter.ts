/** Progress reporting, decoupled from rendering: the engine reports, the CLI draws (or not). */

export interface Step {
  update(text: string): void;
  done(text?: string): void;
  fail(text?: string): void;
}

export interface Reporter {
  step(title: string): Step;
  warn(message: string): void;
  info(message: string): void;
}

const quietStep: Step = { update() {}, done() {}, fail() {} };

/** For library use: says nothing. */
export const silentReporter: Reporter = {
  step: () => quietStep,
  warn: () => undefined,
  info: () => undefined,
};
