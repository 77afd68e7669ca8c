// The fixtures' comments, table-driven: each handled as its `expect` says (fixtures/README.md), and every answer
// keeps to the catalog and the persona's rules.
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { AnswerGuard, loadCatalogFile, loadPersonasFile, pickPersona, RoomBrain, sampleFiles } from "./internal.js";

interface FixtureComment {
  user: string;
  text: string;
  expect: { moderation: string; intent: string; product: string | null; mustMention: string[] };
}

const comments = readFileSync(sampleFiles.comments, "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as FixtureComment);
const personas = await loadPersonasFile(sampleFiles.personas);
const catalogs = { zh: await loadCatalogFile(sampleFiles.catalogZh), en: await loadCatalogFile(sampleFiles.catalogEn) };
// The English lines are the u3xx ones; the others (and the empty one) are for the Mandarin room.
const roomOf = (c: FixtureComment) => (c.user.startsWith("u3") ? catalogs.en : catalogs.zh);
// What a null `product` resolves to: the product on screen (the second one here, so it is not a lucky default),
// products[0] for "1号链接", nothing for greetings, chit-chat and a product-less injection.
const onScreen = (c: FixtureComment) => roomOf(c).products[1]!.id;
const inferred: Record<string, string | undefined> = {
  u108: catalogs.zh.products[1]!.id,
  u109: catalogs.zh.products[1]!.id,
  u115: catalogs.zh.products[0]!.id,
  u204: catalogs.zh.products[1]!.id,
  u206: catalogs.zh.products[1]!.id,
};

async function handle(c: FixtureComment) {
  const catalog = roomOf(c);
  const persona = pickPersona(personas, catalog);
  const brain = new RoomBrain({ catalog, persona });
  const outcome = await brain.receive({ commentId: `c-${c.user}`, viewerId: c.user, text: c.text }, onScreen(c));
  const sentences = [];
  if (outcome.status === "queued") for await (const s of brain.answer(outcome.question)) sentences.push(s);
  return { outcome, answer: sentences.map((s) => s.text).join(""), guard: new AnswerGuard(catalog, persona) };
}

const decision = (o: Awaited<ReturnType<typeof handle>>["outcome"]) =>
  o.status === "rejected" ? "reject" : o.status === "blocked" ? "block" : "masked" in o && o.masked ? "mask" : "allow";
const intent = (o: Awaited<ReturnType<typeof handle>>["outcome"]) =>
  o.status === "rejected" ? "invalid" : o.status === "blocked" ? o.reason : o.question.understanding.intent;
const product = (o: Awaited<ReturnType<typeof handle>>["outcome"]) =>
  "question" in o ? (o.question.understanding.productId ?? null) : null;

describe("fixture comments", () => {
  test.each(comments.map((c) => [c.user, c] as const))("%s is handled as expected", async (_, c) => {
    const { outcome, answer, guard } = await handle(c);
    expect(decision(outcome)).toBe(c.expect.moderation);
    expect(intent(outcome)).toBe(c.expect.intent);
    expect(product(outcome)).toBe(c.expect.product ?? inferred[c.user] ?? null);
    for (const fact of c.expect.mustMention) expect(answer).toContain(fact);
    // Answered or not, nothing said breaks a rule.
    expect(guard.check(answer)).toEqual({ ok: true });
    expect(answer !== "").toBe(["allow", "mask"].includes(c.expect.moderation));
  });

  test("personal data never reaches the answer or the question's text", async () => {
    const c = comments.find((x) => x.user === "u204")!;
    const { outcome, answer } = await handle(c);
    expect("question" in outcome && outcome.question.text).toBe("我的手机号***，帮我留一件");
    expect(answer).not.toContain("13812345678");
  });

  test("injection attempts change no price and disclose nothing", async () => {
    const answers = await Promise.all(
      ["u201", "u202", "u305"].map((user) => handle(comments.find((c) => c.user === user)!)),
    );
    expect(answers[0]!.answer).toContain("349元");
    expect(answers[0]!.answer).not.toMatch(/1块|1元/);
    expect(answers[1]!.answer).not.toMatch(/提示词|管理员|规则/);
    expect(answers[2]!.answer).toContain("$59");
    expect(answers[2]!.answer).not.toMatch(/\bfree\b/i);
  });

  test("superlative bait gets the price without a superlative", async () => {
    const { answer } = await handle(comments.find((c) => c.user === "u206")!);
    expect(answer).toContain("199元");
    expect(answer).not.toMatch(/最|第一|全网/);
  });
});

describe("comments beyond the fixtures", () => {
  // [catalog, comment, intent, product index or null, a fact the answer must contain]
  const more: ["zh" | "en", string, string, number | null, string][] = [
    ["zh", "2号链接有券吗", "coupon", 1, "199元"],
    ["zh", "裙子M码适合多高", "size", 1, "160-165"],
    ["zh", "杯子能装多少", "spec", 0, "500ml"],
    ["zh", "有没有红色的裙子", "spec", 1, "米白"],
    ["zh", "耳机防水吗", "spec", 3, "IPX4"],
    ["zh", "主播多大了", "chitchat", null, ""],
    ["zh", "主播好，杯子多少钱", "price", 0, "79元"],
    ["zh", "身高163体重60穿什么码", "size", 1, "L码"],
    ["en", "which size for a 39 inch chest", "size", 1, "M"],
    ["zh", "3号链接还有吗", "stock", 2, "540"],
    ["zh", "运费多少", "shipping", 0, "包邮"],
    ["en", "how much for link 2", "price", 1, "$59"],
    ["en", "does the hoodie come in black", "spec", 1, "charcoal"],
    ["en", "when will the lamp be back", "stock", 2, "December 10"],
    ["en", "can I return it", "aftersales", 0, "30-day returns"],
    ["en", "is this the best kettle ever", "spec", 0, "1.7 L"],
    ["en", "what are you selling today", "chitchat", null, "Heavyweight Cotton Hoodie"],
  ];

  test.each(more)("%s %j: %s", async (language, text, intent, index, fact) => {
    const catalog = catalogs[language];
    const persona = pickPersona(personas, catalog);
    const brain = new RoomBrain({ catalog, persona });
    const outcome = await brain.receive({ commentId: "c", viewerId: "v", text }, catalog.products[0]!.id);
    const question = "question" in outcome ? outcome.question : undefined;
    expect(question?.understanding.intent).toBe(intent);
    expect(question?.understanding.productId ?? null).toBe(index === null ? null : catalog.products[index]!.id);
    const sentences = [];
    for await (const s of brain.answer(question!)) sentences.push(s.text);
    const answer = sentences.join(" ");
    expect(answer).toContain(fact);
    expect(new AnswerGuard(catalog, persona).check(answer)).toEqual({ ok: true });
  });
});
