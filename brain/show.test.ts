// The show: every line keeps the rules and cues the words that name its overlays, 24/7 loops vary their wording,
// and a position taken at any sentence resumes exactly there (also from JSON, on another host).
import { describe, expect, test } from "vitest";
import { CueFired_Kind } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import {
  AnswerGuard,
  formatMoney,
  loadCatalogFile,
  loadPersonasFile,
  pickPersona,
  sampleFiles,
  ShowPlan,
  showLanguage,
  variantFor,
  type ShowPosition,
} from "./internal.js";

const personas = await loadPersonasFile(sampleFiles.personas);
const plans = await Promise.all(
  [sampleFiles.catalogZh, sampleFiles.catalogEn].map(async (file) => {
    const catalog = await loadCatalogFile(file);
    return new ShowPlan(catalog, pickPersona(personas, catalog), { seed: 7 });
  }),
);

function lines(plan: ShowPlan, loops: number) {
  const out = [];
  for (let pos = plan.start(); pos.loop < loops; pos = plan.nextLine(pos)) out.push(plan.at(pos));
  return out;
}

describe.each(plans.map((p) => [p.catalog.language, p] as const))("the %s show", (_, plan) => {
  const loop = lines(plan, 1);

  test("opens, presents every product with its price, coupons and call to buy, and closes", () => {
    expect(loop[0]!.kind).toBe("opening");
    expect(loop.at(-1)!.kind).toBe("closing");
    for (const product of plan.catalog.products) {
      const about = loop.filter((l) => l.productId === product.id);
      expect(about.map((l) => l.kind)).toEqual(expect.arrayContaining(["intro", "points", "price", "call"]));
      expect(about.filter((l) => l.kind === "coupon")).toHaveLength(product.coupons.length);
      expect(about.find((l) => l.kind === "price")!.text).toContain(
        formatMoney(product.price!, showLanguage(plan.catalog.language)),
      );
    }
  });

  test("every line of several loops keeps the persona's rules", () => {
    const guard = new AnswerGuard(plan.catalog, plan.persona);
    for (const line of lines(plan, 5)) expect([line.text, guard.check(line.text)]).toEqual([line.text, { ok: true }]);
  });

  test("cues sit on the words that name the card, the price and the coupon", () => {
    const named = loop.flatMap((l) =>
      l.cues.map((c) => {
        const product = plan.catalog.products.find((p) => p.id === c.productId)!;
        const expected =
          c.kind === CueFired_Kind.KIND_PRODUCT_CARD
            ? product.title
            : c.kind === CueFired_Kind.KIND_PRICE_TAG
              ? formatMoney(product.price!, showLanguage(plan.catalog.language))
              : product.coupons.find((k) => k.id === c.couponId)!.title;
        return [l.text.slice(c.start, c.end), expected];
      }),
    );
    expect(named.length).toBeGreaterThan(plan.catalog.products.length * 2);
    for (const [said, expected] of named) expect(said).toBe(expected);
  });

  test("a 24/7 room never says a line the way it said it the loop before", () => {
    const loops = [0, 1, 2, 3, 4, 5, 6, 7].map((l) =>
      lines(plan, l + 1)
        .slice(l * plan.linesPerLoop)
        .map((x) => x.text),
    );
    for (let l = 1; l < loops.length; l++) {
      loops[l]!.forEach((text, i) => expect(text).not.toBe(loops[l - 1]![i]));
    }
    const all = loops.flat();
    for (let i = 1; i < all.length; i++) expect(all[i]).not.toBe(all[i - 1]);
  });

  test("resumes at the sentence where it stopped, from JSON", () => {
    const multi = loop.find((l) => l.sentences.length > 1)!;
    const after = plan.afterSentence(multi.position);
    const restored = new ShowPlan(plan.catalog, plan.persona, { seed: 7 }).restore(JSON.parse(JSON.stringify(after)));
    const resumed = plan.at(restored);
    expect(resumed.id).toBe(multi.id);
    expect(resumed.text).toBe(multi.text.slice(multi.sentences[1]![0]));
    for (const cue of resumed.cues) expect(cue.end).toBeLessThanOrEqual(resumed.text.length);
  });
});

describe("positions", () => {
  const plan = plans[0]!;

  test("wording is the same for the same seed and differs for another", () => {
    const other = new ShowPlan(plan.catalog, plan.persona, { seed: 8 });
    const at = (p: ShowPlan) => lines(p, 2).map((l) => l.text);
    expect(at(new ShowPlan(plan.catalog, plan.persona, { seed: 7 }))).toEqual(at(plan));
    expect(at(other)).not.toEqual(at(plan));
  });

  test("the closing is followed by the next loop's opening", () => {
    const closing: ShowPosition = { loop: 3, line: plan.linesPerLoop - 1, sentence: 0, plan: plan.fingerprint };
    expect(plan.nextLine(closing)).toEqual({ loop: 4, line: 0, sentence: 0, plan: plan.fingerprint });
  });

  test("a position from another catalog restarts at the next loop's opening", () => {
    const stale = { loop: 2, line: 5, sentence: 1, plan: "other" };
    expect(plan.restore(stale)).toEqual({ loop: 3, line: 0, sentence: 0, plan: plan.fingerprint });
  });

  test("a malformed position is refused naming the field", () => {
    expect(() => plan.restore({ loop: -1, line: 0, sentence: 0, plan: plan.fingerprint })).toThrow(
      InvalidArgumentError,
    );
    expect(() => plan.restore({ loop: 0, line: "2", sentence: 0 })).toThrow("position.line");
  });

  test("variants cycle without repeating across loop boundaries", () => {
    for (const n of [2, 3, 4, 5]) {
      const picks = Array.from({ length: 60 }, (_, loop) => variantFor(1, "slot", loop, n));
      for (let i = 1; i < picks.length; i++) expect(picks[i]).not.toBe(picks[i - 1]);
      expect(new Set(picks).size).toBe(n);
    }
  });
});
