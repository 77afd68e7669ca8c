// A busy room: the most useful questions first, duplicates answered once, old ones expire, the queue stays bounded.
import { describe, expect, test } from "vitest";
import { createRegistry } from "../observability/index.js";
import { loadCatalogFile, loadPersonasFile, pickPersona, RoomBrain, sampleFiles } from "./internal.js";

const catalog = await loadCatalogFile(sampleFiles.catalogZh);
const persona = pickPersona(await loadPersonasFile(sampleFiles.personas), catalog);
const [cup, dress] = catalog.products;

function busyRoom(options: { capacity?: number; maxAgeMs?: number } = {}) {
  let now = 1_000_000;
  const registry = createRegistry();
  const brain = new RoomBrain({ catalog, persona, registry, queue: options, now: () => now });
  let n = 0;
  const say = (text: string, viewer = `v${n}`) =>
    brain.receive({ commentId: `c${n++}`, viewerId: viewer, text }, cup!.id);
  return { brain, say, registry, advance: (ms: number) => (now += ms) };
}

describe("question queue", () => {
  test("a purchase question about the product on screen goes before chit-chat and other products", async () => {
    const { brain, say } = busyRoom();
    await say("主播好漂亮");
    await say("连衣裙有什么颜色");
    await say("大家晚上好");
    await say("这个多少钱");
    const order = [];
    for (let q = brain.nextQuestion(cup!.id).question; q; q = brain.nextQuestion(cup!.id).question) {
      order.push([q.understanding.intent, q.understanding.productId ?? null]);
    }
    expect(order).toEqual([
      ["price", cup!.id],
      ["spec", dress!.id],
      ["greeting", null],
      ["chitchat", null],
    ]);
  });

  test("the same question from many viewers is one answer for all of them", async () => {
    const { brain, say } = busyRoom();
    expect((await say("保温杯多少钱")).status).toBe("queued");
    expect((await say("杯子多少钱？")).status).toBe("merged");
    expect((await say("保温杯什么价格")).status).toBe("merged");
    const { question } = brain.nextQuestion(cup!.id);
    expect(question!.commentIds).toEqual(["c0", "c1", "c2"]);
    expect(brain.pending).toBe(0);
  });

  test("questions older than the limit expire unanswered", async () => {
    const { brain, say, advance } = busyRoom({ maxAgeMs: 30_000 });
    await say("连衣裙有货吗");
    advance(31_000);
    await say("保温杯多少钱");
    const { question, expired } = brain.nextQuestion(cup!.id);
    expect(question!.understanding.intent).toBe("price");
    expect(expired.map((q) => q.text)).toEqual(["连衣裙有货吗"]);
  });

  test("a full queue drops the least useful question", async () => {
    const { brain, say, registry } = busyRoom({ capacity: 2 });
    await say("主播好漂亮");
    await say("保温杯多少钱");
    const third = await say("面霜有优惠券吗");
    expect(third).toMatchObject({ status: "queued", evicted: { text: "主播好漂亮" } });
    expect((await say("大家晚上好")).status).toBe("dropped");
    expect(brain.pending).toBe(2);
    const pending = await registry.getSingleMetric("livehost_brain_questions_pending")!.get();
    expect(pending.values[0]!.value).toBe(2);
  });
});
