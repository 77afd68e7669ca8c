// cli: the livehost command (main.ts runs it); nothing imports it in production. Other folders' tests start a role in
// their own process through this.
export { startOperatorProcess, type OperatorCommandOptions } from "./operator.js";
export type { RunningRole } from "./role.js";
