// Asks every role of a running stack whether it is healthy: gRPC health for servers, a NATS request for room hosts.
import { HealthClient, HealthCheckResponse_ServingStatus } from "../proto/index.js";
import { callUnary, channelCredentials, connectNats } from "../transport/index.js";
import type { Stack } from "./stack.js";

export interface RoleHealth {
  role: string;
  healthy: boolean;
  detail: string;
}

export async function checkStackHealth(stack: Stack, signal?: AbortSignal): Promise<RoleHealth[]> {
  const nats = await connectNats({ servers: stack.nats.url, name: "livehost-health-check" });
  try {
    return await Promise.all(
      stack.roles.map(async ({ role, endpoints }): Promise<RoleHealth> => {
        try {
          if (endpoints.grpc) {
            const client = new HealthClient(endpoints.grpc, channelCredentials());
            try {
              const { status } = await callUnary(
                client.check.bind(client),
                { service: "" },
                { signal, timeoutMs: 5_000 },
              );
              const name = HealthCheckResponse_ServingStatus[status];
              return {
                role,
                healthy: status === HealthCheckResponse_ServingStatus.SERVING,
                detail: `grpc health ${name}`,
              };
            } finally {
              client.close();
            }
          }
          if (endpoints.status) {
            const reply = await nats.request(endpoints.status, "", { timeout: 5_000 });
            const body = reply.json<{ hostId: string; actors: number }>();
            return { role, healthy: true, detail: `host ${body.hostId}, ${body.actors} actors` };
          }
          // A role that serves neither (the job worker): its /readyz, beside its metrics.
          if (endpoints.metrics) {
            const ready = new URL("/readyz", endpoints.metrics);
            const response = await fetch(ready, {
              signal: AbortSignal.any([AbortSignal.timeout(5_000), ...(signal ? [signal] : [])]),
            });
            return { role, healthy: response.ok, detail: `readyz ${response.status}` };
          }
          return { role, healthy: false, detail: "no health endpoint" };
        } catch (err) {
          return { role, healthy: false, detail: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
  } finally {
    await nats.close();
  }
}
