// The show written ahead for a room: an LLM's lines kept by the guard (a refused one replaced by the embedded brain's
// for its slot), the embedded brain's script when there is no LLM or it fails (the reason said), one check that names
// the field for every way a script can be wrong, and a show that speaks a script line by line, variation by loop.
import { describe, expect, test } from "vitest";
import { CueFired_Kind, ShowScript, type Catalog, type ScriptLine } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import {
  checkScript,
  loadCatalogFile,
  loadPersonasFile,
  maxScriptBytes,
  pickPersona,
  sampleFiles,
  ShowPlan,
  writeScript,
  type LlmOptions,
  type ScriptFallback,
} from "./internal.js";
import { startFakeLlm, type FakeLlmServer } from "./testing/fake-llm.js";

const personas = await loadPersonasFile(sampleFiles.personas);
const catalog = await loadCatalogFile(sampleFiles.catalogZh);
const persona = pickPersona(personas, catalog);
const embedded = new ShowPlan(catalog, persona);
const cream = catalog.products.find((p) => p.id === "p-cream-50")!;

const llmOf = (server: FakeLlmServer, options: Partial<LlmOptions> = {}): LlmOptions => ({
  endpoint: server.endpoint,
  model: "qwen-test",
  firstTokenTimeoutMs: 2_000,
  ...options,
});

/** What a model following the outline writes for variation `v`: the embedded line's facts in other words. */
function llmLines(v: number): ScriptLine[] {
  return embedded.outline().map((line, i) => {
    const said = embedded.at({ loop: v, line: i, sentence: 0, plan: embedded.fingerprint });
    return { kind: line.kind, productId: line.productId, text: `来，第${v + 1}轮：${said.text}` };
  });
}

/** The JSON reply for some lines, cut into stream chunks as a server sends them. */
function reply(lines: ScriptLine[]): string[] {
  const json = JSON.stringify({ lines: lines.map((l) => ({ kind: l.kind, product_id: l.productId, text: l.text })) });
  const size = Math.ceil(json.length / 4);
  return [0, 1, 2, 3].map((i) => json.slice(i * size, (i + 1) * size)).filter((c) => c !== "");
}

/** The InvalidArgumentError a writing is refused with. */
async function refused(writing: Promise<unknown>): Promise<InvalidArgumentError> {
  const error = await writing.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(InvalidArgumentError);
  return error as InvalidArgumentError;
}

const texts = (script: ShowScript, v: number) => script.variations[v]!.lines.map((l) => l.text);

describe("the embedded brain's script (no LLM)", () => {
  test("is the templates' show, one loop a variation, version 1, and its variations differ in wording", async () => {
    const script = await writeScript({ catalog, persona, variations: 3 });
    expect(script).toMatchObject({ version: 1, author: "embedded", fallbackReason: "" });
    expect(script.updateTime).toBeInstanceOf(Date);
    expect(script.variations).toHaveLength(3);
    for (const [v, variation] of script.variations.entries()) {
      expect(variation.lines.map((l) => [l.kind, l.productId])).toEqual(
        embedded.outline().map((l) => [l.kind, l.productId]),
      );
      expect(variation.lines.map((l) => l.text)).toEqual(
        variation.lines.map((_, i) => embedded.at({ loop: v, line: i, sentence: 0, plan: embedded.fingerprint }).text),
      );
    }
    // A slot never says what it said in the variation before.
    for (let v = 1; v < 3; v++) texts(script, v).forEach((text, i) => expect(text).not.toBe(texts(script, v - 1)[i]));
    expect(() => checkScript(script, catalog, { persona })).not.toThrow();
  });

  test("writes a 24/7 room's next variations on from the ones before, as the next version, worded otherwise where it can", async () => {
    const first = await writeScript({ catalog, persona, variations: 3, rewriteAhead: true });
    const next = await writeScript({
      catalog,
      persona,
      variations: 3,
      firstLoop: 3,
      seed: 1,
      version: 2,
      rewriteAhead: true,
      after: first,
    });
    expect(first).toMatchObject({ version: 1, rewriteAhead: true });
    expect(next).toMatchObject({ version: 2, author: "embedded", rewriteAhead: true });
    expect(next.variations).toHaveLength(3);
    // The templates have few wordings for some slots (a price is a price): most lines are new all the same.
    const said = new Set([0, 1, 2].flatMap((v) => texts(first, v)));
    const lines = [0, 1, 2].flatMap((v) => texts(next, v));
    expect(lines.filter((text) => said.has(text)).length).toBeLessThan(lines.length / 2);
    expect(() => checkScript(next, catalog, { persona })).not.toThrow();
  });

  test("writes an English room's show too, kept by the guard", async () => {
    const en = await loadCatalogFile(sampleFiles.catalogEn);
    const script = await writeScript({ catalog: en, persona: pickPersona(personas, en), variations: 2 });
    expect(() => checkScript(script, en, { persona: pickPersona(personas, en) })).not.toThrow();
    expect(script.variations[0]!.lines[0]!.text).toMatch(/[A-Za-z]/);
  });

  test("refuses a catalog whose own words the guard refuses, naming the field", async () => {
    const bad: Catalog = structuredClone(catalog);
    bad.products[2]!.sellingPoints[1] = "坚持用能治疗痘痘";
    const medical = await refused(writeScript({ catalog: bad, persona }));
    expect(medical.field).toBe("catalog.products[2].selling_points[1]");
    expect(medical.message).toContain("medical claim");
    bad.products[2]!.sellingPoints[1] = "早晚都能用";
    bad.products[0]!.title = "全网最低价保温杯";
    await expect(writeScript({ catalog: bad, persona })).rejects.toMatchObject({ field: "catalog.products[0].title" });
  });

  test("writes as many variations as fit in a room's spec, and says so", async () => {
    const points = Array.from({ length: 20 }, (_, i) => `第${i + 1}个卖点说得很长：${"轻薄好用，".repeat(28)}`);
    const wordy: Catalog = {
      ...catalog,
      products: Array.from({ length: 10 }, (_, i) => ({
        ...catalog.products[0]!,
        id: `p-${i}`,
        sellingPoints: points,
      })),
    };
    const fallbacks: ScriptFallback[] = [];
    const script = await writeScript({ catalog: wordy, persona, variations: 8, onFallback: (f) => fallbacks.push(f) });
    const written = script.variations.length;
    expect(written).toBeGreaterThan(1);
    expect(written).toBeLessThan(8);
    expect(ShowScript.encode(script).finish().length).toBeLessThanOrEqual(maxScriptBytes);
    expect(fallbacks.map(({ message, ...f }) => [f, message.includes("KiB")])).toEqual([
      [{ scope: "variations", asked: 8, written }, true],
    ]);
  });

  test("refuses a catalog whose show is longer than a script's variation may be", async () => {
    const many: Catalog = {
      ...catalog,
      products: Array.from({ length: 60 }, (_, i) => ({ ...catalog.products[0]!, id: `p-${i}` })),
    };
    const error = await refused(writeScript({ catalog: many, persona }));
    expect(error.field).toBe("catalog.products");
    expect(error.message).toMatch(/more than the 400 a script's variation holds/);
  });

  test("refuses a number of variations out of 1 to 8", async () => {
    await expect(writeScript({ catalog, persona, variations: 9 })).rejects.toMatchObject({ field: "variations" });
    await expect(writeScript({ catalog, persona, variations: 0 })).rejects.toThrow(InvalidArgumentError);
  });
});

describe("the LLM's script", () => {
  test("one structured call per variation, to the outline; every line kept by the guard is the LLM's", async () => {
    await using llm = await startFakeLlm();
    llm.reply({ chunks: reply(llmLines(0)) });
    llm.reply({ chunks: reply(llmLines(1)) });
    const fallbacks: ScriptFallback[] = [];
    const script = await writeScript({
      catalog,
      persona,
      llm: llmOf(llm),
      variations: 2,
      onFallback: (f) => fallbacks.push(f),
    });
    expect(script).toMatchObject({ version: 1, author: "llm", fallbackReason: "" });
    expect(script.variations.map((v) => v.lines)).toEqual([llmLines(0), llmLines(1)]);
    expect(fallbacks).toEqual([]);

    expect(llm.requests).toHaveLength(2);
    const [first, second] = llm.requests;
    expect(first!.body).toMatchObject({ model: "qwen-test", stream: true, response_format: { type: "json_object" } });
    // The script's own defaults, not an answer's 300 tokens.
    expect((first!.body as { max_tokens?: number }).max_tokens).toBe(4096);
    const system = first!.body.messages![0]!.content;
    expect(system).toContain("304不锈钢保温杯 500ml");
    expect(system).toContain(`[${cream.id}]`);
    expect(system).toContain('"lines"');
    expect(first!.body.messages![1]!.content).toContain("variation 1 of 2");
    expect(second!.body.messages![1]!.content).toContain("variation 2 of 2");
  });

  test("a line with a medical claim is replaced by the embedded brain's line for its slot, and said so", async () => {
    await using llm = await startFakeLlm();
    const lines = llmLines(0);
    const slot = lines.findIndex((l) => l.kind === "points" && l.productId === cream.id);
    lines[slot] = { ...lines[slot]!, text: "这款面霜还能治疗痘痘，坚持用就好。" };
    llm.reply({ chunks: reply(lines) });
    const fallbacks: ScriptFallback[] = [];
    const script = await writeScript({ catalog, persona, llm: llmOf(llm), onFallback: (f) => fallbacks.push(f) });

    expect(script.author).toBe("llm");
    const said = script.variations[0]!.lines;
    expect(said[slot]).toEqual({
      kind: "points",
      productId: cream.id,
      text: embedded.at({ loop: 0, line: slot, sentence: 0, plan: embedded.fingerprint }).text,
    });
    expect(said.filter((_, i) => i !== slot)).toEqual(lines.filter((_, i) => i !== slot));
    expect(
      fallbacks.map(({ message, ...f }) => [f, message.endsWith("the embedded brain's line is said instead")]),
    ).toEqual([[{ scope: "line", variation: 0, line: slot, reason: "medical_claim" }, true]]);
    expect(() => checkScript(script, catalog, { persona })).not.toThrow();
  });

  test("an LLM that is down: the embedded brain writes the whole script, the reason named", async () => {
    const llm = await startFakeLlm();
    const endpoint = llm.endpoint;
    await llm.close();
    const fallbacks: ScriptFallback[] = [];
    const script = await writeScript({
      catalog,
      persona,
      llm: { endpoint, model: "qwen-test" },
      variations: 2,
      onFallback: (f) => fallbacks.push(f),
    });
    expect(script.author).toBe("embedded");
    expect(script.fallbackReason).toMatch(/^network: cannot reach the LLM endpoint/);
    expect(script.variations.map((v) => v.lines.map((l) => l.text))).toEqual(
      (await writeScript({ catalog, persona, variations: 2 })).variations.map((v) => v.lines.map((l) => l.text)),
    );
    expect(
      fallbacks.map(({ message, ...f }) => [f, message === script.fallbackReason.slice("network: ".length)]),
    ).toEqual([[{ scope: "script", reason: "network" }, true]]);
  });

  const failures: [string, (llm: FakeLlmServer) => void, string][] = [
    [
      "an HTTP error",
      (llm) => llm.reply({ status: 503, body: "overloaded" }),
      "http_status: the endpoint answered HTTP 503",
    ],
    ["no first token in time", (llm) => llm.reply({ firstChunkDelayMs: 1_000, chunks: ["{}"] }), "first_token_timeout"],
    ["a reply that is not JSON", (llm) => llm.reply({ chunks: ["Sure! Here is your show:"] }), "protocol"],
    ["no lines at all", (llm) => llm.reply({ chunks: ['{"lines": []}'] }), "refusal: the model wrote no lines"],
    [
      "a line about a product the catalog has not",
      (llm) => llm.reply({ chunks: reply([{ kind: "price", productId: "p-phone", text: "只要79元。" }]) }),
      'protocol: line 1\'s product_id "p-phone"',
    ],
    [
      "most lines refused by the guard",
      (llm) => llm.reply({ chunks: reply(llmLines(0).map((l) => ({ ...l, text: "全网最低，只要9块9！" }))) }),
      "guard: the guard refused",
    ],
  ];

  test.each(failures)("%s: the embedded brain writes the script, fallbackReason says why", async (_, fail, reason) => {
    await using llm = await startFakeLlm();
    fail(llm);
    const script = await writeScript({ catalog, persona, llm: llmOf(llm, { firstTokenTimeoutMs: 300 }) });
    expect(script.author).toBe("embedded");
    expect(script.fallbackReason.startsWith(reason)).toBe(true);
    expect(() => checkScript(script, catalog, { persona })).not.toThrow();
  });

  test("a cancelled job writes nothing: the signal's reason is thrown, not a fallback", async () => {
    await using llm = await startFakeLlm();
    llm.reply({ firstChunkDelayMs: 1_000, chunks: reply(llmLines(0)) });
    const cancel = new AbortController();
    const writing = writeScript({ catalog, persona, llm: llmOf(llm), signal: cancel.signal });
    setTimeout(() => cancel.abort(new Error("job cancelled")), 50);
    await expect(writing).rejects.toThrow("job cancelled");
  });
});

describe("checkScript", () => {
  const valid = () =>
    ShowScript.fromPartial({
      version: 2,
      author: "merchant",
      variations: [{ lines: llmLines(0) }, { lines: llmLines(1) }],
    });
  const line = (script: ShowScript, v: number, i: number) => script.variations[v]!.lines[i]!;
  const priceLine = llmLines(0).findIndex((l) => l.kind === "price");

  const cases: [string, (script: ShowScript) => void, string, RegExp][] = [
    ["no variations", (s) => (s.variations = []), "script.variations", /1 to 8 variations \(got 0\)/],
    [
      "too many variations",
      (s) => (s.variations = Array.from({ length: 9 }, () => s.variations[0]!)),
      "script.variations",
      /got 9/,
    ],
    ["a variation with no lines", (s) => (s.variations[1]!.lines = []), "script.variations[1].lines", /1 to 400/],
    [
      "a variation of 401 lines",
      (s) => (s.variations[0]!.lines = Array.from({ length: 401 }, () => line(s, 0, 0))),
      "script.variations[0].lines",
      /got 401/,
    ],
    ["an empty line", (s) => (line(s, 0, 3).text = "  "), "script.variations[0].lines[3].text", /is required/],
    [
      "a line over 600 characters",
      (s) => (line(s, 1, 2).text = "好".repeat(601)),
      "script.variations[1].lines[2].text",
      /at most 600 characters \(got 601\)/,
    ],
    [
      "an unknown kind",
      (s) => (line(s, 0, 1).kind = "joke"),
      "script.variations[0].lines[1].kind",
      /"joke" is not one of/,
    ],
    [
      "a product the catalog has not",
      (s) => (line(s, 0, 1).productId = "p-phone"),
      "script.variations[0].lines[1].product_id",
      /"p-phone" is not a product of the catalog/,
    ],
    [
      "a product line without its product",
      (s) => (line(s, 0, 1).productId = ""),
      "script.variations[0].lines[1].product_id",
      /is required on a intro line|is required on an? \w+ line/,
    ],
    [
      "a product on the opening",
      (s) => (line(s, 0, 0).productId = "p-cup-500"),
      "script.variations[0].lines[0].product_id",
      /must be empty on a opening line/,
    ],
    [
      "a medical claim",
      (s) => (line(s, 1, 3).text = "用了它，痘痘都能治好。"),
      "script.variations[1].lines[3].text",
      /the guard refuses it: a medical claim \("治好"\)/,
    ],
    [
      "an advertising-law absolute term",
      (s) => (line(s, 0, 2).text = "这是全网最好用的杯子。"),
      "script.variations[0].lines[2].text",
      /advertising-law absolute term/,
    ],
    [
      "a price the catalog does not have",
      (s) => (line(s, 0, priceLine).text = "今天只要59元！"),
      `script.variations[0].lines[${priceLine}].text`,
      /a number or amount the catalog does not have \("59"\)/,
    ],
    ["an unknown author", (s) => (s.author = "intern"), "script.author", /llm, embedded, merchant/],
  ];

  test.each(cases)("refuses %s, naming the field and why", (_, change, field, message) => {
    const script = valid();
    change(script);
    let error: unknown;
    try {
      checkScript(script, catalog, { persona });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ field });
    expect((error as Error).message).toMatch(message);
  });

  test("takes a valid script, and names fields under a prefix (a room's spec)", () => {
    expect(() => checkScript(valid(), catalog, { persona })).not.toThrow();
    const script = valid();
    line(script, 0, 0).kind = "joke";
    expect(() => checkScript(script, catalog, { persona, prefix: "spec." })).toThrow(
      "spec.script.variations[0].lines[0].kind",
    );
  });
});

describe("a show that speaks a script", () => {
  const script = ShowScript.fromPartial({
    version: 1,
    author: "merchant",
    variations: [
      {
        lines: [
          { kind: "opening", productId: "", text: "宝子们好！今天先看两款。" },
          { kind: "intro", productId: "p-cup-500", text: "先看这款宝贝。单手就能开。" },
          { kind: "price", productId: "p-cup-500", text: "直播间只要79！原价129元。" },
          { kind: "coupon", productId: "p-cup-500", text: "满79减10的券记得领。" },
          { kind: "closing", productId: "", text: "这一轮就到这儿。" },
        ],
      },
      {
        lines: [
          { kind: "opening", productId: "", text: "欢迎回来！" },
          { kind: "intro", productId: "p-dress-linen", text: "亚麻混纺收腰连衣裙来了。" },
        ],
      },
    ],
  });
  const plan = new ShowPlan(catalog, persona, { seed: 7, script });

  function spoken(loops: number) {
    const out = [];
    for (let pos = plan.start(); pos.loop < loops; pos = plan.afterSentence(pos)) out.push(plan.at(pos));
    return out;
  }

  test("speaks its lines in order, sentence by sentence, and the next variation on the next loop", () => {
    const said = spoken(3);
    expect(said.map((u) => [u.position.loop, u.position.line, u.position.sentence])).toEqual([
      [0, 0, 0],
      [0, 0, 1],
      [0, 1, 0],
      [0, 1, 1],
      [0, 2, 0],
      [0, 2, 1],
      [0, 3, 0],
      [0, 4, 0],
      [1, 0, 0],
      [1, 1, 0],
      [2, 0, 0],
      [2, 0, 1],
      [2, 1, 0],
      [2, 1, 1],
      [2, 2, 0],
      [2, 2, 1],
      [2, 3, 0],
      [2, 4, 0],
    ]);
    const lines = said.filter((u) => u.position.sentence === 0);
    expect(lines.map((u) => u.text)).toEqual([
      ...script.variations[0]!.lines.map((l) => l.text),
      ...script.variations[1]!.lines.map((l) => l.text),
      ...script.variations[0]!.lines.map((l) => l.text),
    ]);
    expect(lines.map((u) => [u.kind, u.productId])).toEqual(
      [...script.variations[0]!.lines, ...script.variations[1]!.lines, ...script.variations[0]!.lines].map((l) => [
        l.kind,
        l.productId === "" ? undefined : l.productId,
      ]),
    );
    expect(plan.linesIn(1)).toBe(2);
  });

  test("cues come from the line's kind and product: the card on an intro, the tag on a price, the banner on a coupon", () => {
    const at = (loop: number, line: number) => plan.at({ loop, line, sentence: 0, plan: plan.fingerprint });
    const named = (loop: number, line: number) =>
      at(loop, line).cues.map((c) => [c.kind, c.productId, at(loop, line).text.slice(c.start, c.end)]);
    // "这款宝贝" does not name the product: the card comes with the line's first sentence.
    expect(named(0, 1)).toEqual([[CueFired_Kind.KIND_PRODUCT_CARD, "p-cup-500", "先看这款宝贝。"]]);
    expect(named(0, 2)).toEqual([
      [CueFired_Kind.KIND_PRICE_TAG, "p-cup-500", "79"],
      // "129元" is the list price, not the price: no tag on it.
    ]);
    expect(at(0, 3).cues).toEqual([
      expect.objectContaining({ kind: CueFired_Kind.KIND_COUPON, productId: "p-cup-500", couponId: "c-cup-10" }),
    ]);
    expect(named(1, 1)).toEqual([[CueFired_Kind.KIND_PRODUCT_CARD, "p-dress-linen", "亚麻混纺收腰连衣裙"]]);
    expect(at(0, 0).cues).toEqual([]);
  });

  test("resumes where it stopped, from JSON; a changed script restarts at the next loop's opening", () => {
    const pos = plan.afterSentence({ loop: 0, line: 2, sentence: 0, plan: plan.fingerprint });
    const again = new ShowPlan(catalog, persona, { seed: 7, script });
    expect(again.at(again.restore(JSON.parse(JSON.stringify(pos)))).text).toBe("原价129元。");

    const edited = ShowScript.fromPartial(structuredClone(ShowScript.toJSON(script)) as object);
    edited.variations[0]!.lines[2]!.text = "直播间价79元。";
    const changed = new ShowPlan(catalog, persona, { seed: 7, script: edited });
    expect(changed.fingerprint).not.toBe(plan.fingerprint);
    expect(changed.restore(pos)).toEqual({ loop: 1, line: 0, sentence: 0, plan: changed.fingerprint });
    // The templates' show of the same catalog is another plan too.
    expect(new ShowPlan(catalog, persona, { seed: 7 }).restore(pos)).toMatchObject({ loop: 1, line: 0 });
  });
});
