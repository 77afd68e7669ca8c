// cli: the livehost command (main.ts runs it); nothing imports it in production. Other folders' tests start a role in
// their own process through this, and benchmarks start roles as `livehost up` does.
export { startOperatorProcess, type OperatorCommandOptions } from "./operator.js";
export type { RunningRole } from "./role.js";
export { startStack, type Stack } from "./stack.js";
