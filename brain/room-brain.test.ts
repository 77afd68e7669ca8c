// What operators see of the brain: metrics by decision, intent, path and fallback reason on the registry passed
// in, one span per answer, and logs that carry comment text only under `pii` (redacted by default).
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  createLogger,
  createRegistry,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  startTracing,
  type Tracing,
} from "../observability/internal.js";
import { loadCatalogFile, loadPersonasFile, pickPersona, RoomBrain, sampleFiles } from "./internal.js";

const catalog = await loadCatalogFile(sampleFiles.catalogZh);
const persona = pickPersona(await loadPersonasFile(sampleFiles.personas), catalog);
const spans = new InMemorySpanExporter();
let tracing: Tracing;
beforeAll(async () => {
  tracing = await startTracing({ serviceName: "test", spanProcessors: [new SimpleSpanProcessor(spans)] });
});
afterAll(() => tracing.shutdown());

function logged() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: createLogger({ level: "debug", keepPii: false, destination }) };
}

describe("room brain observability", () => {
  test("comments are counted by decision and intent; answers by path; one span each", async () => {
    const registry = createRegistry();
    const { lines, logger } = logged();
    const brain = new RoomBrain({ catalog, persona, registry, logger });
    await brain.receive({ commentId: "a", viewerId: "v1", text: "保温杯多少钱" });
    await brain.receive({ commentId: "b", viewerId: "v2", text: "我的手机号13812345678，耳机有货吗" });
    await brain.receive({ commentId: "c", viewerId: "v3", text: "傻X主播" });
    await brain.receive({ commentId: "d", viewerId: "v4", text: "" });
    for (let q = brain.nextQuestion().question; q; q = brain.nextQuestion().question) {
      for await (const _ of brain.answer(q));
    }

    const comments = await registry.getSingleMetric("livehost_brain_comments_total")!.get();
    expect(comments.values.map((v) => [v.labels.decision, v.labels.intent, v.value])).toEqual([
      ["allow", "price", 1],
      ["mask", "stock", 1],
      ["block", "abuse", 1],
      ["reject", "invalid", 1],
    ]);
    const latency = await registry.getSingleMetricAsString("livehost_brain_first_sentence_seconds");
    expect(latency).toContain('livehost_brain_first_sentence_seconds_count{path="embedded"} 2');

    const answered = spans.getFinishedSpans().filter((s) => s.name === "brain.answer");
    expect(answered.map((s) => s.attributes["livehost.intent"])).toEqual(["price", "stock"]);
    expect(answered.map((s) => s.attributes["livehost.brain.path"])).toEqual(["embedded", "embedded"]);

    // Comment text only under `pii`, which is redacted: no phone number, no comment text anywhere in the logs.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join("")).not.toMatch(/13812345678|保温杯多少钱|傻X/);
  });

  test("two rooms of one host share the registry's metrics", async () => {
    const registry = createRegistry();
    const a = new RoomBrain({ catalog, persona, registry });
    const b = new RoomBrain({ catalog, persona, registry });
    expect((await a.receive({ commentId: "a", viewerId: "v", text: "你好" })).status).toBe("queued");
    expect((await b.receive({ commentId: "b", viewerId: "v", text: "你好" })).status).toBe("queued");
  });
});
