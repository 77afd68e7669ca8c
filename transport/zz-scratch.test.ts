import { it } from "vitest";
import { credentials } from "@grpc/grpc-js";
import { AnimateResponse, LipSyncServiceClient, LipSyncServiceService, animateAudio } from "../proto/index.js";
import { bidiCall, bidiStream } from "./index.js";
import { startTestGrpcServer } from "../testing/index.js";

for (const [n, kb] of [[100, 16], [300, 16], [300, 4], [100, 60]] as const) {
  it(`lead ${n} ${kb}`, async () => {
    let consumed = 0; let maxBuf = 0; let maxQ = 0; let maxH2 = 0; let win = 0;
    await using server = await startTestGrpcServer([
      {
        name: "x",
        definition: LipSyncServiceService,
        implementation: {
          animate: bidiStream("Animate", async function* (requests, _s, call) {
            for await (const _r of requests) {
              const c = call as any;
              const base = c.call?.nextCall ?? c.call;
              maxBuf = Math.max(maxBuf, call.readableLength);
              maxQ = Math.max(maxQ, base?.readQueue?.length ?? -1);
              const h2 = base?.stream;
              maxH2 = Math.max(maxH2, h2?.readableLength ?? -1);
              win = h2?.state?.localWindowSize ?? -1;
              await new Promise((r) => setTimeout(r, 2));
              consumed++;
              yield AnimateResponse.fromPartial({});
            }
          }),
        },
      },
    ]);
    const client = new LipSyncServiceClient(server.address, credentials.createInsecure(), { "grpc.enable_retries": 0 });
    let produced = 0;
    let lead = 0;
    async function* producer() {
      for (; produced < n; produced++) {
        lead = Math.max(lead, produced - consumed);
        yield animateAudio(new Int16Array(kb * 512), "u");
      }
    }
    for await (const _ of bidiCall(client.animate.bind(client), producer()));
    console.log(n, kb, "lead", lead, "buf", maxBuf, "q", maxQ, "h2", maxH2, "win", win);
    client.close();
  });
}
