// Writes operator/crds/*.yaml from the TypeScript schemas: `node dist/operator/write-crds.js`.
import { writeFile } from "node:fs/promises";
import { crdFiles } from "./crds.js";

const dir = new URL("../../operator/crds/", import.meta.url);
for (const file of crdFiles()) {
  await writeFile(new URL(file.name, dir), file.text);
  process.stdout.write(`wrote operator/crds/${file.name}\n`);
}
