// Turns a custom resource as read from the API into a checked spec: fills the schema's defaults (as the API server
// would), checks it against the same schema the CRD carries, then checks what a schema cannot say (min <= max,
// exactly one node group, at least one capacity lane). A bad object yields problems naming each field, never a throw.
import type {
  GpuOffering,
  GpuOfferingSpec,
  JsonSchema,
  LiveEvent,
  LiveEventSpec,
  NodeGroupRef,
  WorkerPool,
  WorkerPoolSpec,
} from "./resources.js";
import { gpuOfferingDefinition, liveEventDefinition, workerPoolDefinition } from "./resources.js";

export interface Problem {
  /** e.g. "spec.maxReplicas" */
  field: string;
  message: string;
}

export type Checked<T> = { ok: true; spec: T } | { ok: false; problems: Problem[] };

/** One line naming every problem, for a status condition or an Event. */
export const describeProblems = (problems: Problem[]) => problems.map((p) => `${p.field}: ${p.message}`).join("; ");

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A copy of value with the schema's defaults filled in and every violation listed under path. */
export function applySchema(schema: JsonSchema, value: unknown, path: string, problems: Problem[]): unknown {
  if (value === undefined && schema.default !== undefined) value = structuredClone(schema.default);
  if (value === undefined) return undefined;
  switch (schema.type) {
    case "object": {
      if (!isRecord(value)) {
        problems.push({ field: path, message: "must be an object" });
        return value;
      }
      const out: Record<string, unknown> = { ...value };
      for (const name of schema.required ?? []) {
        if (value[name] === undefined && schema.properties?.[name]?.default === undefined) {
          problems.push({ field: `${path}.${name}`, message: "is required" });
        }
      }
      for (const [name, sub] of Object.entries(schema.properties ?? {})) {
        const filled = applySchema(sub, value[name], `${path}.${name}`, problems);
        if (filled !== undefined) out[name] = filled;
      }
      if (isRecord(schema.additionalProperties)) {
        for (const [name, v] of Object.entries(value)) {
          applySchema(schema.additionalProperties, v, `${path}.${name}`, problems);
        }
      }
      return out;
    }
    case "array":
      if (!Array.isArray(value)) problems.push({ field: path, message: "must be a list" });
      return value;
    case "string":
      if (typeof value !== "string") {
        problems.push({ field: path, message: "must be a string" });
      } else if (schema.enum && !schema.enum.includes(value)) {
        problems.push({ field: path, message: `must be one of ${schema.enum.join(", ")}, got "${value}"` });
      } else if (schema.minLength !== undefined && value.length < schema.minLength) {
        problems.push({ field: path, message: "must not be empty" });
      } else if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
        problems.push({ field: path, message: `"${value}" is not a valid name` });
      } else if (schema.format === "date-time" && Number.isNaN(Date.parse(value))) {
        problems.push({ field: path, message: `"${value}" is not an RFC 3339 time` });
      }
      return value;
    case "integer":
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) {
        problems.push({ field: path, message: `must be a number, got ${JSON.stringify(value)}` });
      } else if (schema.type === "integer" && !Number.isInteger(value)) {
        problems.push({ field: path, message: `must be an integer, got ${value}` });
      } else if (schema.minimum !== undefined && value < schema.minimum) {
        problems.push({ field: path, message: `must be at least ${schema.minimum}, got ${value}` });
      } else if (schema.maximum !== undefined && value > schema.maximum) {
        problems.push({ field: path, message: `must be at most ${schema.maximum}, got ${value}` });
      }
      return value;
    case "boolean":
      if (typeof value !== "boolean") problems.push({ field: path, message: "must be true or false" });
      return value;
    default:
      return value;
  }
}

function checkSpec<T>(schema: JsonSchema, object: { spec?: unknown }, semantic: (spec: T) => Problem[]): Checked<T> {
  const problems: Problem[] = [];
  if (object.spec === undefined) return { ok: false, problems: [{ field: "spec", message: "is required" }] };
  const spec = applySchema(schema, object.spec, "spec", problems) as T;
  if (problems.length === 0) problems.push(...semantic(spec));
  return problems.length === 0 ? { ok: true, spec } : { ok: false, problems };
}

/** `knownGpuTypes`: the GPU types some GpuOffering provides; a pool asking for another can never be placed. */
export function checkWorkerPool(pool: WorkerPool, knownGpuTypes: ReadonlySet<string>): Checked<WorkerPoolSpec> {
  return checkSpec<WorkerPoolSpec>(workerPoolDefinition.specSchema, pool, (spec) => {
    const problems: Problem[] = [];
    if (spec.minReplicas > spec.maxReplicas) {
      problems.push({
        field: "spec.minReplicas",
        message: `must not exceed spec.maxReplicas (${spec.minReplicas} > ${spec.maxReplicas})`,
      });
    }
    if (!knownGpuTypes.has(spec.gpu.type)) {
      const offered = [...knownGpuTypes].sort().join(", ") || "none";
      problems.push({
        field: "spec.gpu.type",
        message: `no GpuOffering offers "${spec.gpu.type}" (offered: ${offered})`,
      });
    }
    return problems;
  });
}

function checkNodeGroup(group: NodeGroupRef, path: string): Problem[] {
  const targets = [group.machineDeployment, group.karpenterNodePool].filter((t) => t !== undefined).length;
  if (targets === 1) return [];
  return [{ field: path, message: "needs exactly one of machineDeployment or karpenterNodePool" }];
}

export function checkGpuOffering(offering: GpuOffering): Checked<GpuOfferingSpec> {
  return checkSpec<GpuOfferingSpec>(gpuOfferingDefinition.specSchema, offering, (spec) => {
    const problems: Problem[] = [];
    if (spec.onDemand === undefined && spec.spot === undefined) {
      problems.push({ field: "spec", message: "needs onDemand, spot or both" });
    }
    if (spec.onDemand) problems.push(...checkNodeGroup(spec.onDemand.nodeGroup, "spec.onDemand.nodeGroup"));
    if (spec.spot) problems.push(...checkNodeGroup(spec.spot.nodeGroup, "spec.spot.nodeGroup"));
    return problems;
  });
}

export function checkLiveEvent(event: LiveEvent): Checked<LiveEventSpec> {
  return checkSpec<LiveEventSpec>(liveEventDefinition.specSchema, event, (spec) =>
    spec.rampSeconds > spec.durationSeconds
      ? [{ field: "spec.rampSeconds", message: "must not exceed spec.durationSeconds" }]
      : [],
  );
}
