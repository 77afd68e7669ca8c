// The client half of the TTS benchmark, in its own process as a room host would be. It warms up (JIT, channel)
// with untimed calls, then for each count it reads on stdin makes that many sequential Synthesize calls and prints
// each call's first-chunk and total time as one JSON line. It exits when stdin closes.
import { createInterface } from "node:readline";
import { credentials } from "@grpc/grpc-js";
import { SpeechServiceClient, SynthesizeRequest, type SynthesizeResponse } from "../proto/index.js";
import { mediaChannelOptions } from "../transport/index.js";

const warmupCalls = 20;
const [address, ...requestArgs] = process.argv.slice(2);
const requests = requestArgs.map((json) => SynthesizeRequest.fromJSON(JSON.parse(json)));
const client = new SpeechServiceClient(address!, credentials.createInsecure(), mediaChannelOptions);

function call(request: SynthesizeRequest): Promise<{ first: number; total: number }> {
  const started = performance.now();
  let first = 0;
  return new Promise((resolve, reject) => {
    const stream = client.synthesize(request);
    stream.on("data", (_chunk: SynthesizeResponse) => {
      if (first === 0) first = performance.now() - started;
    });
    stream.on("end", () => resolve({ first, total: performance.now() - started }));
    stream.on("error", reject);
  });
}

for (let i = 0; i < warmupCalls; i++) await call(requests[i % requests.length]!);
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) {
  const result = { first: [] as number[], total: [] as number[] };
  for (let i = 0; i < Number(line); i++) {
    const { first, total } = await call(requests[i % requests.length]!);
    result.first.push(first);
    result.total.push(total);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
client.close();
