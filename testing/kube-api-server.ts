// A Kubernetes API server for the operator's tests. An HTTP server on 127.0.0.1 port 0 that is faithful for what the
// operator uses: list and watch with resourceVersion (a watch from a compacted version gets a 410 Expired event, as
// from the real server), create, replace with optimistic concurrency (409 Conflict on a stale resourceVersion), merge
// patches, the status and scale subresources, Leases and Events, label selectors of the form a=b,c=d.
//
// NOT covered: authentication and RBAC, admission (no CRD schema validation or defaulting: the operator's own checks
// are what is tested), field selectors, set-based label selectors, JSON patch and server-side apply, strategic merge
// (treated as a JSON merge patch), garbage collection of owned objects, watch bookmarks, pagination (limit/continue),
// API discovery, protobuf, and no controllers at all: Deployments do not create pods and MachineDeployments do not
// create nodes unless the test does it.
//
// client-node is loaded when a server starts, so the many tests that import testing/ for something else do not pay
// for it.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  status?: boolean;
  scale?: boolean;
}

/** The resources the operator touches; tests may pass more. */
export const operatorResourceTypes: ResourceType[] = [
  { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true, status: true },
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

function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

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

  private constructor(types: ResourceType[], kubeConfigClass: typeof KubeConfig) {
    this.#types = types;
    this.#KubeConfig = kubeConfigClass;
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.#handle(req, Buffer.concat(chunks).toString("utf8"), res));
    });
  }

  static async start(types: ResourceType[] = operatorResourceTypes): Promise<KubeApiTestServer> {
    const { KubeConfig } = await import("@kubernetes/client-node");
    const server = new KubeApiTestServer(types, KubeConfig);
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

  /** Creates or replaces an object as a controller of the cluster would (no concurrency check). */
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
        uid: existing?.metadata.uid ?? randomUUID(),
        creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString(),
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
      if (method === "POST") return this.#json(res, 201, this.#create(type, ns, JSON.parse(body) as KubeObject));
      throw new ApiError(405, "MethodNotAllowed", method);
    }
    const key = this.#key(type.plural, ns, name);
    const current = this.#objects.get(key);
    if (!current) throw new ApiError(404, "NotFound", `${type.plural} "${name}" not found`);
    if (sub === "scale") {
      if (!type.scale) throw new ApiError(404, "NotFound", `${type.plural} has no scale subresource`);
      return this.#scale(type, key, current, method, body, contentType, res);
    }
    if (sub !== undefined && (sub !== "status" || !type.status)) {
      throw new ApiError(404, "NotFound", `${type.plural} has no ${sub} subresource`);
    }
    if (method === "GET") return this.#json(res, 200, current);
    if (method === "DELETE") {
      this.#objects.delete(key);
      const gone = { ...current, metadata: { ...current.metadata, resourceVersion: String(++this.#rv) } };
      this.#record("DELETED", type.plural, gone);
      return this.#json(res, 200, gone);
    }
    let next: KubeObject;
    if (method === "PUT") {
      next = JSON.parse(body) as KubeObject;
      const sent = next.metadata?.resourceVersion;
      if (sent !== undefined && sent !== "" && sent !== current.metadata.resourceVersion) {
        throw new ApiError(
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${type.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      }
    } else if (method === "PATCH") {
      if (contentType.includes("json-patch")) throw new ApiError(415, "UnsupportedMediaType", "JSON patch");
      next = mergePatch(current, JSON.parse(body)) as KubeObject;
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

  #create(type: ResourceType, ns: string | undefined, obj: KubeObject): KubeObject {
    let name = obj.metadata?.name;
    if (!name && obj.metadata?.generateName) name = `${obj.metadata.generateName}${randomUUID().slice(0, 5)}`;
    if (!name) throw new ApiError(422, "Invalid", "metadata.name: Required value");
    if (this.#objects.has(this.#key(type.plural, ns, name))) {
      throw new ApiError(409, "AlreadyExists", `${type.plural} "${name}" already exists`);
    }
    return this.put(type.plural, { ...obj, metadata: { ...obj.metadata, name, namespace: ns } });
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
    contentType: string,
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
      const scale = JSON.parse(body) as KubeObject;
      const sent = scale.metadata?.resourceVersion;
      if (sent && sent !== current.metadata.resourceVersion) {
        throw new ApiError(
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${type.plural}: the object has been modified`,
        );
      }
      replicas = scale.spec?.replicas ?? NaN;
    } else if (method === "PATCH" && !contentType.includes("json-patch")) {
      replicas = (mergePatch(scaleOf(current), JSON.parse(body)) as KubeObject).spec?.replicas ?? NaN;
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
