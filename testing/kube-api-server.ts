// A Kubernetes API server for the operator's tests. An HTTP server on 127.0.0.1 port 0 that is faithful for what the
// operator uses: list and watch with resourceVersion (a watch from a compacted version gets a 410 Expired event, as
// from the real server), create, replace with optimistic concurrency (409 Conflict on a stale resourceVersion), the
// status and scale subresources, Pod eviction (policy/v1 Eviction: the pod is deleted at once), Leases and Events,
// label selectors of the form a=b,c=d, and PATCH by its Content-Type as the real server does it:
// - application/merge-patch+json: RFC 7386 JSON merge patch;
// - application/json-patch+json: RFC 6902 JSON patch (fast-json-patch); a failed `test` or a path that is not there
//   is 422 Invalid;
// - application/strategic-merge-patch+json, for the built-in kinds only: maps merge, `null` deletes, lists merge item
//   by item where k8s.io/api declares patchStrategy=merge (the table `strategicMergeLists` below: containers by name,
//   env by name, volumeMounts by mountPath, conditions by type, ...), every other list (tolerations, Node taints,
//   args) is replaced whole; the `$patch: replace|delete`, `$retainKeys` and `$deleteFromPrimitiveList/` directives
//   are honoured and `$setElementOrder/` ignored. On a custom resource it is 415, as from the real server;
// - application/apply-patch+yaml (server-side apply): 415 — not implemented here; any other type: 415.
// A patch whose result carries a resourceVersion other than the stored one is a 409 Conflict, as on the real server.
//
// NOT covered: authentication and RBAC, admission (no CRD schema validation or defaulting: the operator's own checks
// are what is tested; a strategic merge keeps fields the Go types would drop), server-side apply and managedFields,
// the order `$setElementOrder` asks for, PodDisruptionBudgets (an eviction always succeeds) and graceful deletion,
// field selectors, set-based label selectors, garbage collection of owned objects, watch bookmarks, pagination
// (limit/continue), API discovery, protobuf, and no controllers at all: Deployments do not create pods,
// MachineDeployments do not create machines or nodes and Karpenter does not create NodeClaims unless the test does it.
// testing/kube-objects.ts makes complete Karpenter, Cluster API and Node objects for tests to put here.
//
// client-node and fast-json-patch are loaded when a server starts, so the many tests that import testing/ for
// something else do not pay for them.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import type fastJsonPatch from "fast-json-patch";
import type { Operation } from "fast-json-patch";

type JsonPatch = typeof fastJsonPatch;

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  status?: boolean;
  scale?: boolean;
  /** The eviction subresource (POST a policy/v1 Eviction): Pods. */
  eviction?: boolean;
}

/** The resources the operator touches; tests may pass more. */
export const operatorResourceTypes: ResourceType[] = [
  { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true, status: true, eviction: true },
  { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false, status: true },
  { group: "", version: "v1", plural: "events", kind: "Event", namespaced: true },
  { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true },
  {
    group: "apps",
    version: "v1",
    plural: "deployments",
    kind: "Deployment",
    namespaced: true,
    status: true,
    scale: true,
  },
  {
    group: "cluster.x-k8s.io",
    version: "v1beta1",
    plural: "machinedeployments",
    kind: "MachineDeployment",
    namespaced: true,
    status: true,
    scale: true,
  },
  {
    group: "cluster.x-k8s.io",
    version: "v1beta1",
    plural: "machines",
    kind: "Machine",
    namespaced: true,
    status: true,
  },
  { group: "karpenter.sh", version: "v1", plural: "nodepools", kind: "NodePool", namespaced: false, status: true },
  { group: "karpenter.sh", version: "v1", plural: "nodeclaims", kind: "NodeClaim", namespaced: false, status: true },
  {
    group: "livehost.io",
    version: "v1alpha1",
    plural: "workerpools",
    kind: "WorkerPool",
    namespaced: true,
    status: true,
  },
  {
    group: "livehost.io",
    version: "v1alpha1",
    plural: "gpuofferings",
    kind: "GpuOffering",
    namespaced: true,
    status: true,
  },
  {
    group: "livehost.io",
    version: "v1alpha1",
    plural: "liveevents",
    kind: "LiveEvent",
    namespaced: true,
    status: true,
  },
];

export interface ObjectMetadata {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMetadata;
  spec?: { replicas?: number; [field: string]: unknown };
  status?: { replicas?: number; [field: string]: unknown };
  [field: string]: unknown;
}

interface Change {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  plural: string;
  object: KubeObject;
}

interface Watcher {
  plural: string;
  namespace: string | undefined;
  selector: Record<string, string>;
  res: http.ServerResponse;
}

export interface Request {
  method: string;
  path: string;
  query: string;
}

const apiVersionOf = (t: ResourceType) => (t.group === "" ? t.version : `${t.group}/${t.version}`);
const clone = <T>(v: T): T => structuredClone(v);

function parseSelector(text: string | null): Record<string, string> {
  const selector: Record<string, string> = {};
  for (const part of (text ?? "").split(",").filter(Boolean)) {
    const [k, v] = part.split("=");
    selector[k!] = v ?? "";
  }
  return selector;
}

const matches = (obj: KubeObject, selector: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => obj.metadata.labels?.[k] === v);

type Json = Record<string, unknown>;
const isMap = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** RFC 7386 JSON merge patch: maps merge, null deletes a key, anything else (lists too) replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return patch;
  const out: Json = isMap(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// ---- strategic merge patch ----

/** A list of scalars merged as a set (patchStrategy=merge without a merge key), e.g. metadata.finalizers. */
const scalarSet = Symbol("scalar set");
/**
 * The lists a strategic merge patch merges item by item, by JSON path from the object's root ("[]" is any item of a
 * list), each with its patchMergeKey: the `patchStrategy:"merge"` tags of k8s.io/api (core/v1, apps/v1) and
 * k8s.io/apimachinery's ObjectMeta. Every list not named here is replaced whole, as the real server does: among them
 * Pod tolerations, Node spec.taints, readinessGates, containerStatuses, command and args.
 */
type MergeTable = Readonly<Record<string, string | typeof scalarSet>>;

const objectMetaLists = (at: string): MergeTable => ({
  [`${at}.finalizers`]: scalarSet,
  [`${at}.ownerReferences`]: "uid",
});

const containerLists = (at: string): MergeTable => ({
  [`${at}.ports`]: "containerPort",
  [`${at}.env`]: "name",
  [`${at}.volumeMounts`]: "mountPath",
  [`${at}.volumeDevices`]: "devicePath",
});

const podSpecLists = (at: string): MergeTable => ({
  [`${at}.containers`]: "name",
  ...containerLists(`${at}.containers[]`),
  [`${at}.initContainers`]: "name",
  ...containerLists(`${at}.initContainers[]`),
  [`${at}.ephemeralContainers`]: "name",
  ...containerLists(`${at}.ephemeralContainers[]`),
  [`${at}.volumes`]: "name",
  [`${at}.imagePullSecrets`]: "name",
  [`${at}.hostAliases`]: "ip",
  [`${at}.topologySpreadConstraints`]: "topologyKey",
  [`${at}.schedulingGates`]: "name",
  [`${at}.resourceClaims`]: "name",
});

/** By kind; a built-in kind not named here merges only its metadata lists. */
const strategicMergeLists: Readonly<Record<string, MergeTable>> = {
  Pod: {
    ...objectMetaLists("metadata"),
    ...podSpecLists("spec"),
    "status.conditions": "type",
    "status.podIPs": "ip",
    "status.hostIPs": "ip",
    "status.resourceClaimStatuses": "name",
  },
  Node: {
    ...objectMetaLists("metadata"),
    "spec.podCIDRs": scalarSet,
    "status.conditions": "type",
    "status.addresses": "type",
  },
  Deployment: {
    ...objectMetaLists("metadata"),
    ...objectMetaLists("spec.template.metadata"),
    ...podSpecLists("spec.template.spec"),
    "status.conditions": "type",
  },
  Event: objectMetaLists("metadata"),
  Lease: objectMetaLists("metadata"),
  /** The scale subresource's autoscaling/v1 Scale has no lists. */
  Scale: {},
};

/** API groups whose kinds are compiled into the API server and so take strategic merge patches. */
const builtInGroups = new Set(["", "apps", "coordination.k8s.io", "policy", "events.k8s.io"]);

const deleted = Symbol("deleted");

type PatchType = "merge" | "json" | "strategic";

function badRequest(message: string): ApiError {
  return new ApiError(400, "BadRequest", message);
}

/** The value with its strategic-merge directives removed (what a replaced or newly added part stores). */
function withoutDirectives(value: unknown): unknown {
  if (Array.isArray(value)) {
    // Items that carry a directive ($patch: replace or delete) are instructions, not items.
    return value.filter((v) => !(isMap(v) && v.$patch !== undefined)).map(withoutDirectives);
  }
  if (!isMap(value)) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (
      k === "$patch" ||
      k === "$retainKeys" ||
      k.startsWith("$setElementOrder/") ||
      k.startsWith("$deleteFromPrimitiveList/")
    )
      continue;
    if (v !== null) out[k] = withoutDirectives(v);
  }
  return out;
}

/**
 * A strategic merge patch of `original` (the map at JSON path `path`) by `patch`, with the list strategies of
 * `lists`. Returns `deleted` for a map the patch deletes (`$patch: delete`).
 */
function strategicMerge(original: unknown, patch: unknown, lists: MergeTable, path: string): unknown {
  if (!isMap(patch)) return withoutDirectives(patch);
  const directive = patch.$patch;
  if (directive === "delete") return deleted;
  if (directive === "replace") return withoutDirectives(patch);
  if (directive !== undefined && directive !== "merge")
    throw badRequest(`Unknown patch type: ${JSON.stringify(directive)}`);
  const out: Json = isMap(original) ? { ...original } : {};
  const retain = patch.$retainKeys;
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw badRequest(`$retainKeys at ${path || "the root"} is not a list`);
    for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  }
  const child = (k: string) => (path ? `${path}.${k}` : k);
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys" || k.startsWith("$setElementOrder/")) continue;
    if (k.startsWith("$deleteFromPrimitiveList/")) continue; // after the merge, below
    if (v === null) delete out[k];
    else if (Array.isArray(v)) {
      const strategy = lists[child(k)];
      out[k] = strategy === undefined ? withoutDirectives(v) : mergeList(out[k], v, strategy, child(k), lists);
    } else if (isMap(v)) {
      const merged = strategicMerge(out[k], v, lists, child(k));
      if (merged === deleted) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  for (const [k, v] of Object.entries(patch)) {
    if (!k.startsWith("$deleteFromPrimitiveList/")) continue;
    const field = k.slice("$deleteFromPrimitiveList/".length);
    if (!Array.isArray(v)) throw badRequest(`${k} is not a list`);
    if (Array.isArray(out[field])) out[field] = out[field].filter((x) => !v.includes(x));
  }
  return out;
}

function mergeList(
  original: unknown,
  patch: unknown[],
  strategy: string | typeof scalarSet,
  path: string,
  lists: MergeTable,
): unknown[] {
  const out: unknown[] = Array.isArray(original) ? [...(original as unknown[])] : [];
  if (strategy === scalarSet) {
    for (const v of patch) if (!out.includes(v)) out.push(v);
    return out;
  }
  const key = strategy;
  if (patch.some((item) => isMap(item) && item.$patch === "replace")) return withoutDirectives(patch) as unknown[];
  for (const item of patch) {
    if (!isMap(item))
      throw badRequest(`${path}: an item of a list merged by ${key} is not a map: ${JSON.stringify(item)}`);
    if (item[key] === undefined) {
      throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`);
    }
    const at = out.findIndex((o) => isMap(o) && o[key] === item[key]);
    if (item.$patch === "delete") {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    const merged = strategicMerge(at >= 0 ? out[at] : undefined, item, lists, `${path}[]`);
    if (at >= 0) out[at] = merged;
    else out.push(merged);
  }
  return out;
}

function parseBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (err) {
    throw badRequest(`the request body is not JSON: ${String(err)}`);
  }
}

const conflict = (type: ResourceType, name: string) =>
  new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${type.plural}${type.group ? `.${type.group}` : ""} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
  );

export class KubeApiTestServer implements AsyncDisposable {
  readonly #types: ResourceType[];
  readonly #objects = new Map<string, KubeObject>();
  readonly #changes: Change[] = [];
  readonly #watchers = new Set<Watcher>();
  #rv = 100;
  /** Watches from a version older than this get 410 Expired. */
  #oldestRv = 100;
  readonly #server: http.Server;
  /** Every request, in order (method, path, query), for tests that check how the client behaved. */
  readonly requests: Request[] = [];
  url = "";

  readonly #KubeConfig: typeof KubeConfig;
  readonly #jsonPatch: JsonPatch;

  private constructor(types: ResourceType[], kubeConfigClass: typeof KubeConfig, jsonPatch: JsonPatch) {
    this.#types = types;
    this.#KubeConfig = kubeConfigClass;
    this.#jsonPatch = jsonPatch;
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.#handle(req, Buffer.concat(chunks).toString("utf8"), res));
    });
  }

  static async start(types: ResourceType[] = operatorResourceTypes): Promise<KubeApiTestServer> {
    const [{ KubeConfig }, { default: jsonPatch }] = await Promise.all([
      import("@kubernetes/client-node"),
      import("fast-json-patch"),
    ]);
    const server = new KubeApiTestServer(types, KubeConfig, jsonPatch);
    await new Promise<void>((resolve) => server.#server.listen(0, "127.0.0.1", resolve));
    server.url = `http://127.0.0.1:${(server.#server.address() as AddressInfo).port}`;
    return server;
  }

  /** A KubeConfig for this server, as a client in a cluster would load one. */
  kubeConfig(namespace = "default"): KubeConfig {
    const kc = new this.#KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "test", server: this.url, skipTLSVerify: true }],
      users: [{ name: "test" }],
      contexts: [{ name: "test", cluster: "test", user: "test", namespace }],
      currentContext: "test",
    });
    return kc;
  }

  #type(plural: string): ResourceType {
    const type = this.#types.find((t) => t.plural === plural);
    if (!type) throw new Error(`unknown resource ${plural}`);
    return type;
  }

  #key = (plural: string, namespace: string | undefined, name: string) => `${plural}/${namespace ?? ""}/${name}`;

  #record(type: Change["type"], plural: string, object: KubeObject): void {
    const change: Change = { rv: Number(object.metadata.resourceVersion), type, plural, object: clone(object) };
    this.#changes.push(change);
    // Bounded history, like etcd's compaction window.
    if (this.#changes.length > 10_000) this.#oldestRv = this.#changes.shift()!.rv;
    for (const w of this.#watchers) this.#send(w, change);
  }

  #send(w: Watcher, change: Change): void {
    if (w.plural !== change.plural) return;
    if (w.namespace !== undefined && change.object.metadata.namespace !== w.namespace) return;
    if (!matches(change.object, w.selector)) return;
    w.res.write(`${JSON.stringify({ type: change.type, object: change.object })}\n`);
  }

  // ---- direct access for tests (acting as the rest of the cluster) ----

  /**
   * Creates or replaces an object as a controller of the cluster would (no concurrency check). The uid and
   * creationTimestamp given with a new object are kept (a test may set up a node that registered minutes ago, owned
   * by the NodeClaim whose uid it names).
   */
  put(plural: string, object: KubeObject): KubeObject {
    const type = this.#type(plural);
    const ns = type.namespaced ? (object.metadata.namespace ?? "default") : undefined;
    const existing = this.#objects.get(this.#key(plural, ns, object.metadata.name!));
    const stored: KubeObject = {
      ...clone(object),
      apiVersion: apiVersionOf(type),
      kind: type.kind,
      metadata: {
        ...clone(object.metadata),
        ...(ns === undefined ? {} : { namespace: ns }),
        uid: existing?.metadata.uid ?? object.metadata.uid ?? randomUUID(),
        creationTimestamp:
          existing?.metadata.creationTimestamp ?? object.metadata.creationTimestamp ?? new Date().toISOString(),
        generation: (existing?.metadata.generation ?? 0) + 1,
        resourceVersion: String(++this.#rv),
      },
    };
    this.#objects.set(this.#key(plural, ns, stored.metadata.name!), stored);
    this.#record(existing ? "MODIFIED" : "ADDED", plural, stored);
    return clone(stored);
  }

  get(plural: string, name: string, namespace?: string): KubeObject | undefined {
    const type = this.#type(plural);
    const obj = this.#objects.get(this.#key(plural, type.namespaced ? (namespace ?? "default") : undefined, name));
    return obj && clone(obj);
  }

  list(plural: string, namespace?: string): KubeObject[] {
    return [...this.#objects.values()]
      .filter((o) => o.kind === this.#type(plural).kind)
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .map(clone);
  }

  /** Forgets the change history and ends every watch: clients must relist (their next watch gets 410 Expired). */
  expireWatches(): void {
    this.#changes.length = 0;
    this.#oldestRv = this.#rv + 1;
    for (const w of this.#watchers) w.res.end();
    this.#watchers.clear();
  }

  // ---- the HTTP API ----

  #handle(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    this.requests.push({ method: req.method ?? "GET", path: url.pathname, query: url.search });
    try {
      this.#route(req.method ?? "GET", url, body, req.headers["content-type"] ?? "", res);
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(500, "InternalError", String(err));
      this.#json(res, e.code, {
        apiVersion: "v1",
        kind: "Status",
        status: "Failure",
        message: e.message,
        reason: e.reason,
        ...(e.details === undefined ? {} : { details: e.details }),
        code: e.code,
      });
    }
  }

  #json(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body));
  }

  #route(method: string, url: URL, body: string, contentType: string, res: http.ServerResponse): void {
    const parts = url.pathname.split("/").filter(Boolean);
    // /api/v1/... or /apis/<group>/<version>/...
    let rest: string[];
    let group: string;
    if (parts[0] === "api") {
      group = "";
      rest = parts.slice(2);
    } else if (parts[0] === "apis") {
      group = parts[1] ?? "";
      rest = parts.slice(3);
    } else {
      throw new ApiError(404, "NotFound", `no route ${url.pathname}`);
    }
    let namespace: string | undefined;
    if (rest[0] === "namespaces" && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, sub] = rest;
    const type = this.#types.find((t) => t.plural === plural && t.group === group);
    if (!type) throw new ApiError(404, "NotFound", `the server could not find the requested resource ${plural}`);
    if (type.namespaced && name !== undefined && namespace === undefined) {
      throw new ApiError(404, "NotFound", `${plural} is namespaced`);
    }
    const ns = type.namespaced ? namespace : undefined;
    if (name === undefined) {
      if (method === "GET" && url.searchParams.get("watch") === "true") return this.#watch(type, ns, url, res);
      if (method === "GET") return this.#list(type, ns, url, res);
      if (method === "POST") return this.#json(res, 201, this.#create(type, ns, parseBody(body) as KubeObject));
      throw new ApiError(405, "MethodNotAllowed", method);
    }
    // The real server refuses a patch type before it reads the object.
    const patchType = method === "PATCH" ? this.#patchType(type, contentType) : undefined;
    const key = this.#key(type.plural, ns, name);
    const current = this.#objects.get(key);
    if (!current) throw new ApiError(404, "NotFound", `${type.plural} "${name}" not found`);
    if (sub === "scale") {
      if (!type.scale) throw new ApiError(404, "NotFound", `${type.plural} has no scale subresource`);
      return this.#scale(type, key, current, method, body, patchType, res);
    }
    if (sub === "eviction" && type.eviction) {
      if (method !== "POST") throw new ApiError(405, "MethodNotAllowed", method);
      return this.#evict(type, key, current, parseBody(body) as KubeObject, res);
    }
    if (sub !== undefined && (sub !== "status" || !type.status)) {
      throw new ApiError(404, "NotFound", `${type.plural} has no ${sub} subresource`);
    }
    if (method === "GET") return this.#json(res, 200, current);
    if (method === "DELETE") return this.#json(res, 200, this.#delete(type, key, current));
    let next: KubeObject;
    if (method === "PUT") {
      next = parseBody(body) as KubeObject;
      const sent = next.metadata?.resourceVersion;
      if (sent !== undefined && sent !== "" && sent !== current.metadata.resourceVersion) {
        throw conflict(type, name);
      }
    } else if (patchType !== undefined) {
      next = this.#patch(patchType, type.kind, current, body) as KubeObject;
      // A resourceVersion in the patch is a precondition, as on the real server.
      if (next.metadata?.resourceVersion !== current.metadata.resourceVersion) throw conflict(type, name);
    } else {
      throw new ApiError(405, "MethodNotAllowed", method);
    }
    // The status subresource changes only status; the main resource never changes status (when it has one).
    const merged: KubeObject =
      sub === "status"
        ? { ...current, status: next.status }
        : { ...next, ...(type.status ? { status: current.status } : {}) };
    const specChanged = JSON.stringify(merged.spec) !== JSON.stringify(current.spec);
    merged.metadata = {
      ...(sub === "status" ? current.metadata : next.metadata),
      name: current.metadata.name,
      namespace: current.metadata.namespace,
      uid: current.metadata.uid,
      creationTimestamp: current.metadata.creationTimestamp,
      generation: (current.metadata.generation ?? 0) + (specChanged ? 1 : 0),
      resourceVersion: String(++this.#rv),
    };
    merged.apiVersion = current.apiVersion;
    merged.kind = current.kind;
    this.#objects.set(key, merged);
    this.#record("MODIFIED", type.plural, merged);
    this.#json(res, 200, merged);
  }

  /** The patch type a PATCH asks for by its Content-Type, or 415 as the real server answers one it does not take. */
  #patchType(type: ResourceType, contentType: string): PatchType {
    const media = contentType.split(";")[0]!.trim().toLowerCase();
    const custom = !builtInGroups.has(type.group);
    if (media === "application/apply-patch+yaml") {
      throw new ApiError(
        415,
        "UnsupportedMediaType",
        "server-side apply (application/apply-patch+yaml) is not implemented by this test server",
      );
    }
    if (media === "application/merge-patch+json") return "merge";
    if (media === "application/json-patch+json") return "json";
    if (media === "application/strategic-merge-patch+json" && !custom) return "strategic";
    const accepted = [
      "application/json-patch+json",
      "application/merge-patch+json",
      ...(custom ? [] : ["application/strategic-merge-patch+json"]),
      "application/apply-patch+yaml",
    ];
    const why =
      media === "application/strategic-merge-patch+json"
        ? ` (strategic merge patch is not supported for custom resources such as ${type.plural}.${type.group})`
        : "";
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}${why}`,
    );
  }

  /** `current` patched by the request body (a new object; `current` is not changed). */
  #patch(patchType: PatchType, kind: string, current: unknown, body: string): unknown {
    const patch = parseBody(body);
    if (patchType !== "json" && !isMap(patch)) throw badRequest(`a ${patchType} patch must be a JSON object`);
    if (patchType === "merge") return mergePatch(clone(current), patch);
    if (patchType === "strategic") {
      return strategicMerge(clone(current), patch, strategicMergeLists[kind] ?? objectMetaLists("metadata"), "");
    }
    if (!Array.isArray(patch)) throw badRequest("a JSON patch must be a JSON array of operations");
    try {
      return this.#jsonPatch.applyPatch(clone(current), patch as Operation[], true, false).newDocument;
    } catch (err) {
      if (!(err instanceof this.#jsonPatch.JsonPatchError)) throw err;
      const op = err.operation as Partial<Operation> | undefined;
      const what = `json patch operation ${err.index ?? "?"} ("${String(op?.op)}" at ${String(op?.path)})`;
      const cause = err.message.split("\n")[0];
      throw new ApiError(
        422,
        "Invalid",
        `the server rejected our request due to an error in our request: ${what} failed: ${cause}`,
        { causes: [{ reason: "FieldValueInvalid", message: `${what}: ${cause}` }] },
      );
    }
  }

  #delete(type: ResourceType, key: string, current: KubeObject): KubeObject {
    this.#objects.delete(key);
    const gone = { ...current, metadata: { ...current.metadata, resourceVersion: String(++this.#rv) } };
    this.#record("DELETED", type.plural, gone);
    return gone;
  }

  /** A policy/v1 Eviction: with no PodDisruptionBudgets and no grace period here, the pod goes at once. */
  #evict(type: ResourceType, key: string, pod: KubeObject, eviction: KubeObject, res: http.ServerResponse): void {
    const named = eviction.metadata?.name;
    if (named !== undefined && named !== pod.metadata.name) {
      throw badRequest("name in URL does not match name in Eviction object");
    }
    if (eviction.kind !== undefined && eviction.kind !== "Eviction") {
      throw badRequest(`expected an Eviction, got a ${String(eviction.kind)}`);
    }
    this.#delete(type, key, pod);
    this.#json(res, 201, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 });
  }

  #create(type: ResourceType, ns: string | undefined, obj: KubeObject): KubeObject {
    let name = obj.metadata?.name;
    if (!name && obj.metadata?.generateName) name = `${obj.metadata.generateName}${randomUUID().slice(0, 5)}`;
    if (!name) throw new ApiError(422, "Invalid", "metadata.name: Required value");
    if (this.#objects.has(this.#key(type.plural, ns, name))) {
      throw new ApiError(409, "AlreadyExists", `${type.plural} "${name}" already exists`);
    }
    // The server, not the client, stamps the uid and creation time.
    const { creationTimestamp: _created, uid: _uid, ...metadata } = obj.metadata;
    return this.put(type.plural, { ...obj, metadata: { ...metadata, name, namespace: ns } });
  }

  #list(type: ResourceType, ns: string | undefined, url: URL, res: http.ServerResponse): void {
    const selector = parseSelector(url.searchParams.get("labelSelector"));
    const items = [...this.#objects.values()].filter(
      (o) => o.kind === type.kind && (ns === undefined || o.metadata.namespace === ns) && matches(o, selector),
    );
    this.#json(res, 200, {
      apiVersion: apiVersionOf(type),
      kind: `${type.kind}List`,
      metadata: { resourceVersion: String(this.#rv) },
      items,
    });
  }

  #watch(type: ResourceType, ns: string | undefined, url: URL, res: http.ServerResponse): void {
    const selector = parseSelector(url.searchParams.get("labelSelector"));
    const from = url.searchParams.get("resourceVersion") ?? "";
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders();
    const watcher: Watcher = { plural: type.plural, namespace: ns, selector, res };
    if (from === "" || from === "0") {
      // No version: the current state as ADDED events, then changes.
      for (const o of this.#objects.values()) {
        if (o.kind !== type.kind) continue;
        this.#send(watcher, { rv: 0, type: "ADDED", plural: type.plural, object: o });
      }
    } else if (Number(from) < this.#oldestRv - 1) {
      const status = { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410 };
      res.end(
        `${JSON.stringify({ type: "ERROR", object: { ...status, message: `too old resource version: ${from}` } })}\n`,
      );
      return;
    } else {
      for (const c of this.#changes) if (c.rv > Number(from)) this.#send(watcher, c);
    }
    this.#watchers.add(watcher);
    res.on("close", () => this.#watchers.delete(watcher));
  }

  #scale(
    type: ResourceType,
    key: string,
    current: KubeObject,
    method: string,
    body: string,
    patchType: PatchType | undefined,
    res: http.ServerResponse,
  ): void {
    const scaleOf = (o: KubeObject) => ({
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: {
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: o.spec?.replicas ?? 0 },
      status: { replicas: o.status?.replicas ?? 0 },
    });
    if (method === "GET") return this.#json(res, 200, scaleOf(current));
    let replicas: number;
    if (method === "PUT") {
      const scale = parseBody(body) as KubeObject;
      const sent = scale.metadata?.resourceVersion;
      if (sent && sent !== current.metadata.resourceVersion) throw conflict(type, current.metadata.name!);
      replicas = scale.spec?.replicas ?? NaN;
    } else if (patchType !== undefined) {
      const scale = this.#patch(patchType, "Scale", scaleOf(current), body) as KubeObject;
      if (scale.metadata?.resourceVersion !== current.metadata.resourceVersion) {
        throw conflict(type, current.metadata.name!);
      }
      replicas = scale.spec?.replicas ?? NaN;
    } else {
      throw new ApiError(405, "MethodNotAllowed", method);
    }
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new ApiError(422, "Invalid", `spec.replicas: Invalid value: ${replicas}`);
    }
    const next = clone(current);
    next.spec = { ...next.spec, replicas };
    next.metadata.generation = (current.metadata.generation ?? 0) + 1;
    next.metadata.resourceVersion = String(++this.#rv);
    this.#objects.set(key, next);
    this.#record("MODIFIED", type.plural, next);
    this.#json(res, 200, scaleOf(next));
  }

  async close(): Promise<void> {
    for (const w of this.#watchers) w.res.end();
    this.#watchers.clear();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  [Symbol.asyncDispose] = () => this.close();
}
