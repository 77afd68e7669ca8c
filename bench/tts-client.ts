// The client half of the TTS benchmark, in its own process as a room host would be: sequential Synthesize calls,
// printing each call's first-chunk and total time as one JSON line.
import { credentials } from "@grpc/grpc-js";
import { SpeechServiceClient, SynthesizeRequest, type SynthesizeResponse } from "../proto/index.js";
import { mediaChannelOptions } from "../transport/index.js";

const [address, countArg, ...requests] = process.argv.slice(2);
const count = Number(countArg);
const client = new SpeechServiceClient(address!, credentials.createInsecure(), mediaChannelOptions);
const first: number[] = [];
const total: number[] = [];
for (let i = 0; i < count; i++) {
  const request = SynthesizeRequest.fromJSON(JSON.parse(requests[i % requests.length]!));
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const call = client.synthesize(request);
    let seen = false;
    call.on("data", (_chunk: SynthesizeResponse) => {
      if (!seen) first.push(performance.now() - started);
      seen = true;
    });
    call.on("end", resolve);
    call.on("error", reject);
  });
  total.push(performance.now() - started);
}
client.close();
process.stdout.write(`${JSON.stringify({ first, total })}\n`);
