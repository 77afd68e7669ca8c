// Keeps every folder's public face narrow (part of `npm run lint`): a name exported by a folder's index.ts must be
// imported by the production code of another folder. What only tests and benchmarks use belongs in internal.ts.
// The lint rule beside it (eslint.config.js) lets production code import only index.ts; tests may import internal.ts.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Folders that serve tests only: their faces are not checked, and what they import does not count as use. */
const testOnlyFolders = new Set(["testing", "bench", "e2e"]);
/** Every other top-level folder with an index.ts has a public face for production code. */
const faces = readdirSync(root).filter((f) => !testOnlyFolders.has(f) && existsSync(join(root, f, "index.ts")));

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return ["node_modules", "gen", "dist", "build"].includes(entry.name) ? [] : sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

function parse(file) {
  return ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
}

/** The names a face exports; `export *` is refused, since it hides what the face promises. */
function exportedNames(indexFile, problems) {
  const names = new Set();
  parse(indexFile).forEachChild((node) => {
    if (ts.isExportDeclaration(node)) {
      // proto/'s face is the generated contracts themselves: it re-exports them whole.
      const clause = node.exportClause;
      if (clause && ts.isNamedExports(clause)) clause.elements.forEach((e) => names.add(e.name.text));
      else if (clause) names.add(clause.name.text);
      else if (!node.moduleSpecifier?.text.startsWith("./gen/")) {
        problems.push(`${relative(root, indexFile)}: "export *" hides what the face exports`);
      }
    } else if (node.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      const declared = ts.isVariableStatement(node) ? node.declarationList.declarations : [node];
      declared.forEach((d) => d.name && ts.isIdentifier(d.name) && names.add(d.name.text));
    }
  });
  return names;
}

/** Names that production code outside each folder imports from that folder's index. */
function importedFromFaces() {
  const used = new Map(faces.map((f) => [f, new Set()]));
  for (const top of readdirSync(root)) {
    if (!existsSync(join(root, top, "index.ts")) && !existsSync(join(root, top, "main.ts"))) continue;
    if (testOnlyFolders.has(top)) continue;
    for (const file of sourceFiles(join(root, top))) {
      if (file.endsWith(".test.ts")) continue;
      parse(file).forEachChild((node) => {
        if (!(ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) || !node.moduleSpecifier) return;
        const target = relative(root, resolve(dirname(file), node.moduleSpecifier.text)).split("/");
        const folder = target[0];
        if (folder === top || !used.has(folder) || target[1] !== "index.js") return;
        const bindings = ts.isImportDeclaration(node) ? node.importClause?.namedBindings : node.exportClause;
        if (bindings && (ts.isNamedImports(bindings) || ts.isNamedExports(bindings))) {
          bindings.elements.forEach((e) => used.get(folder).add((e.propertyName ?? e.name).text));
        }
      });
    }
  }
  return used;
}

const problems = [];
const used = importedFromFaces();
for (const folder of faces) {
  const index = join(root, folder, "index.ts");
  if (!existsSync(index)) continue;
  for (const name of exportedNames(index, problems)) {
    if (!used.get(folder).has(name)) {
      problems.push(`${folder}/index.ts exports ${name}, which no other folder's code imports (tests: internal.ts)`);
    }
  }
}
if (problems.length > 0) {
  process.stderr.write(`${problems.join("\n")}\n`);
  process.exit(1);
}
