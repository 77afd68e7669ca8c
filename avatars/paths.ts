// Files the repository ships (the committed lip-sync model, the espeak-ng binding, the room picture's blend kernel),
// found from the repository root whether the code runs from the sources (tests) or from dist/.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UnavailableError } from "../errors/index.js";

export function repoPath(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "livehost") {
      return join(dir, relative);
    }
    dir = dirname(dir);
  }
  throw new UnavailableError(`cannot find the livehost repository root to load ${relative}`);
}
