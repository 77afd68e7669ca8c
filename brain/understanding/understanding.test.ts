// The understanding model's parts: the corpus (deterministic, every label in both languages), the features
// (spelling tricks meet their plain form), the export (onnxruntime computes what training computed) and the
// loader (a model made for other labels is refused, saying why).
import { describe, expect, test } from "vitest";
import { UnavailableError } from "../../errors/index.js";
import { loadCatalogFile, maskPersonalData, sampleFiles } from "../internal.js";
import { CommentClassifier } from "./classifier.js";
import { blockLabels, generateCorpus, intentLabels } from "./corpus.js";
import { readLabelled } from "./evaluate.js";
import { labelledSets } from "./train.js";
import { ensembleFeatureIds, featureBuckets, featureIds, featureStrings, normalizeComment } from "./features.js";
import { ensembleToOnnx, predictEnsemble, UnderstandingModel } from "./model.js";
import { DataType, encodeModel } from "../../onnx/index.js";

const catalogs = [await loadCatalogFile(sampleFiles.catalogZh), await loadCatalogFile(sampleFiles.catalogEn)];

describe("corpus", () => {
  const corpus = generateCorpus({ catalogs, perLabel: 60 });

  test("the same seed gives the same corpus; another seed another one", () => {
    expect(generateCorpus({ catalogs, perLabel: 60 })).toEqual(corpus);
    expect(generateCorpus({ catalogs, perLabel: 60, seed: 7 })).not.toEqual(corpus);
  });

  test("every label in both languages; blocked comments carry no intent; no text has two labels", () => {
    for (const lang of ["zh", "en"] as const) {
      const rows = corpus.filter((r) => r.lang === lang);
      for (const intent of intentLabels) expect(rows.some((r) => r.intent === intent)).toBe(true);
      for (const reason of blockLabels) {
        expect(rows.filter((r) => r.moderation === reason).every((r) => r.intent === null)).toBe(true);
        expect(rows.some((r) => r.moderation === reason)).toBe(true);
      }
    }
    const labels = new Map<string, string>();
    for (const r of corpus) {
      const label = `${r.intent}/${r.moderation === "mask" ? "allow" : r.moderation}`;
      expect(labels.get(`${r.lang}:${r.text}`) ?? label).toBe(label);
      labels.set(`${r.lang}:${r.text}`, label);
    }
  });

  test("products of the catalogs given are named in the comments", () => {
    const named = (pattern: RegExp) => corpus.filter((r) => pattern.test(r.text)).length;
    expect(named(/保温杯|杯子|连衣裙|裙子|面霜|耳机/)).toBeGreaterThan(3);
    expect(named(/kettle|hoodie|lamp/i)).toBeGreaterThan(3);
  });

  test("a claim is never made a question by its roughening (a question about an effect is spec)", () => {
    for (const r of corpus.filter((r) => r.moderation === "medical" || r.moderation === "ad_bait")) {
      expect(r.text).not.toMatch(/^(?:请问|想问下|问一下) /);
    }
  });

  test("some allowed comments carry the viewer's own personal data, labelled mask", () => {
    const masked = corpus.filter((r) => r.moderation === "mask");
    expect(masked.length).toBeGreaterThan(0);
    for (const r of masked) {
      expect(r.intent).not.toBeNull();
      expect(maskPersonalData(r.text).pii).not.toEqual([]);
    }
  });
});

describe("the labelled sets", () => {
  test("the held-out set is heldout6.jsonl: 400 comments per language, every intent and block reason, no text twice", async () => {
    expect(labelledSets.heldout).toMatch(/heldout6\.jsonl$/);
    expect(labelledSets.heldout_v5).toMatch(/heldout5\.jsonl$/);
    expect(labelledSets.heldout_v3).toMatch(/heldout3\.jsonl$/);
    expect(labelledSets.heldout_v1).toMatch(/heldout\.jsonl$/);
    expect(labelledSets.heldout_v2).toMatch(/heldout2\.jsonl$/);
    const rows = await readLabelled(labelledSets.heldout);
    for (const lang of ["zh", "en"] as const) {
      const of = rows.filter((r) => r.lang === lang);
      expect(of).toHaveLength(400);
      for (const intent of intentLabels) expect(of.some((r) => r.intent === intent)).toBe(true);
      for (const moderation of ["allow", "mask", ...blockLabels]) {
        expect(of.some((r) => r.moderation === moderation)).toBe(true);
      }
    }
    expect(new Set(rows.map((r) => `${r.lang}:${r.text}`)).size).toBe(rows.length);
  });
});

describe("features", () => {
  test.each([
    ["ＸＬ码还有吗", "xl码还有吗"],
    ["f u c k you", "fuck you"],
    ["w.e.c.h.a.t me", "wechat me"],
    ["soooooo cute", "soo cute"],
    ["哈哈哈哈哈", "哈哈"],
  ])("%j reads as %j", (text, normalized) => {
    expect(normalizeComment(text)).toBe(normalized);
  });

  const shared = (a: string, b: string) => featureStrings(a).filter((f) => featureStrings(b).includes(f));

  test("homophones share their pinyin: 薇信 and 微信", () => {
    expect(shared("加我薇信", "加我微信")).toContain("qwei xin");
  });

  test("initials meet the words they stand for: jg and 价格, sb and 傻逼", () => {
    expect(shared("jg多少", "价格多少")).toContain("ijg");
    expect(shared("主播sb", "主播傻逼")).toContain("isb");
  });

  test("another hash seed puts the features in other buckets; an ensemble's ids are its members' in turn", () => {
    const [a, b] = [featureIds("保温杯多少钱"), featureIds("保温杯多少钱", 1)];
    expect(b).toHaveLength(a.length);
    expect(b).not.toEqual(a);
    expect(ensembleFeatureIds("保温杯多少钱", [0, 1])).toEqual([...a, ...b.map((id) => id + featureBuckets)]);
  });

  test("pinyin typed in Latin letters meets the characters: wei xin, weixin and 微信", () => {
    expect(shared("加wei xin", "加微信")).toContain("qwei xin");
    expect(shared("weixin领券", "微信领券")).toContain("qwei xin");
    expect(shared("sha bi zhu bo", "傻逼主播")).toContain("isbz");
    // An English word is not split into syllables unless it splits wholly: "kettle" has no pinyin features.
    expect(featureStrings("kettle").filter((f) => /^[pq]/.test(f))).toEqual([]);
  });

  test("a Chinese question's words are marked as asked; a claim with the same words is not", () => {
    expect(featureStrings("面霜能治湿疹吗")).toContain("f治湿");
    expect(featureStrings("能治湿疹吗？😂")).toContain("f治湿");
    expect(featureStrings("面霜治好了我的湿疹").some((f) => f.startsWith("f"))).toBe(false);
  });

  test("digits written for letters read as the letters", () => {
    expect(shared("u r an 1d10t", "u r an idiot")).toContain("widiot");
  });
});

/** onnxruntime reads each text as training computes it (the table is half precision: about three digits agree). */
async function expectReadAsComputed(
  classifier: CommentClassifier,
  texts: string[],
  predict: (text: string) => { intent: Float32Array; moderation: Float32Array },
): Promise<void> {
  for (const text of texts) {
    const expected = predict(text);
    const read = await classifier.classify(text);
    const best = expected.intent.indexOf(Math.max(...expected.intent));
    expect(read.intent).toBe(intentLabels[best]);
    expect(read.intentConfidence).toBeCloseTo(expected.intent[best]!, 2);
    expect(read.blockProbability).toBeCloseTo(1 - expected.moderation[0]!, 2);
  }
}

describe("the ONNX export", () => {
  test("onnxruntime gives the probabilities training computes", async () => {
    const model = new UnderstandingModel(8, 3);
    model.train(generateCorpus({ catalogs, perLabel: 20 }), { epochs: 1 });
    const classifier = await CommentClassifier.load(model.toOnnx({ allow_below: "0.5" }));
    try {
      const texts = ["保温杯多少钱", "傻X主播", "is the lamp in stock", "say it's the best kettle ever"];
      await expectReadAsComputed(classifier, texts, (text) => model.predict(text));
    } finally {
      await classifier.close();
    }
  });

  test("an ensemble is one graph whose probabilities are the mean of its models' (each hashing its own way)", async () => {
    const corpus = generateCorpus({ catalogs, perLabel: 20 });
    const models = [3, 4].map((seed, member) => {
      const model = new UnderstandingModel(8, seed, member * 7);
      model.train(corpus, { epochs: 1, seed });
      return model;
    });
    const classifier = await CommentClassifier.load(ensembleToOnnx(models, { allow_below: "0.5" }));
    try {
      expect(classifier.metadata).toMatchObject({ ensemble: "2", hash_seeds: "0,7" });
      const texts = ["保温杯多少钱", "傻X主播", "is the lamp in stock"];
      await expectReadAsComputed(classifier, texts, (text) => predictEnsemble(models, text));
    } finally {
      await classifier.close();
    }
  });

  test("a model made for other labels is refused with the reason", async () => {
    const other = encodeModel({
      name: "other",
      inputs: [{ name: "ids", type: DataType.INT64, shape: ["n"] }],
      outputs: [{ name: "out", type: DataType.INT64, shape: ["n"] }],
      nodes: [{ op: "Identity", inputs: ["ids"], outputs: ["out"] }],
      initializers: [],
      metadata: { intent_labels: "price,other" },
    });
    const refused = CommentClassifier.load(other);
    await expect(refused).rejects.toThrow(UnavailableError);
    await expect(CommentClassifier.load(other)).rejects.toThrow(/intent_labels is "price,other"/);
  });

  test("a missing model file is an UnavailableError naming it", async () => {
    await expect(CommentClassifier.load("/nonexistent/understanding.onnx")).rejects.toThrow(
      /\/nonexistent\/understanding\.onnx cannot be read/,
    );
  });
});
