// Runs helm (3.17, put in node_modules/.cache/livehost/helm by charts/testing/install-helm.sh, which setup runs)
// against the livehost chart, and parses what `helm template` renders.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";

const run = promisify(execFile);

export const chartDir = fileURLToPath(new URL("../livehost", import.meta.url));
export const helmBinary =
  process.env.HELM_BINARY ?? fileURLToPath(new URL("../../node_modules/.cache/livehost/helm", import.meta.url));

/** A rendered Kubernetes object, loosely typed: tests look at the fields they check. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with the arguments; never throws for a non-zero exit (tests look at the code and stderr). */
export async function helm(args: string[]): Promise<HelmResult> {
  if (!existsSync(helmBinary)) {
    throw new Error(`${helmBinary} is missing: run sh charts/testing/install-helm.sh (scripts/setup.sh does)`);
  }
  try {
    const { stdout, stderr } = await run(helmBinary, args, { maxBuffer: 64 * 1024 * 1024, env: helmEnv() });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Keeps helm away from the user's own config, cache and kube context. */
function helmEnv(): NodeJS.ProcessEnv {
  const home = fileURLToPath(new URL("../../node_modules/.cache/livehost/helm-home", import.meta.url));
  return {
    PATH: process.env.PATH,
    HELM_CACHE_HOME: `${home}/cache`,
    HELM_CONFIG_HOME: `${home}/config`,
    HELM_DATA_HOME: `${home}/data`,
    KUBECONFIG: "/dev/null",
  };
}

/** `helm template` of the chart with these values files (and --set pairs); throws with helm's error. */
export async function renderChart(
  valuesFiles: string[] = [],
  set: string[] = [],
  extra: string[] = [],
): Promise<Manifest[]> {
  const args = ["template", "lh", chartDir, "--namespace", "livehost", "--include-crds", ...extra];
  for (const file of valuesFiles) args.push("--values", file);
  for (const pair of set) args.push("--set", pair);
  const result = await helm(args);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

export function valuesFile(name: string): string {
  return fileURLToPath(new URL(`../livehost/ci/${name}`, import.meta.url));
}
