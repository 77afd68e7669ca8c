// grpc.health.v1 for every livehost gRPC server: Check and Watch per service, "" for the whole server.
import { status as GrpcStatus, type ServerWritableStream } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from "../proto/index.js";

export { ServingStatus };

export class HealthRegistry {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #watchers = new Set<{
    service: string;
    call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;
  }>();

  constructor(initial: ServingStatus = ServingStatus.SERVING) {
    this.#statuses.set("", initial);
  }

  /** Sets a service's status ("" is the whole server) and tells every watcher. */
  set(service: string, status: ServingStatus): void {
    if (this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    for (const watcher of this.#watchers) {
      if (watcher.service === service) watcher.call.write({ status });
    }
  }

  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** Marks everything NOT_SERVING: the first step of a graceful shutdown, so probes stop routing to us. */
  shutdown(): void {
    for (const service of this.#statuses.keys()) this.set(service, ServingStatus.NOT_SERVING);
  }

  /** Ends every Watch stream so the server can close. */
  endWatches(): void {
    for (const watcher of this.#watchers) watcher.call.end();
    this.#watchers.clear();
  }

  readonly implementation: HealthServer = {
    check: (call, callback) => {
      const status = this.#statuses.get(call.request.service);
      if (status === undefined) {
        callback({ code: GrpcStatus.NOT_FOUND, details: `unknown service: ${call.request.service}` });
      } else {
        callback(null, { status });
      }
    },
    watch: (call) => {
      const watcher = { service: call.request.service, call };
      this.#watchers.add(watcher);
      call.write({ status: this.#statuses.get(call.request.service) ?? ServingStatus.SERVICE_UNKNOWN });
      call.on("cancelled", () => this.#watchers.delete(watcher));
      call.on("close", () => this.#watchers.delete(watcher));
    },
  };
}
