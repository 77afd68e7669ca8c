// Every alert links to a runbook that exists: each rule's `runbook` annotation names a section of this folder's
// README.md (by its GitHub heading anchor), and the README's links between sections land too.
import { readFile } from "node:fs/promises";
import { expect, it } from "vitest";
import { parse } from "yaml";

interface AlertRules {
  groups: { rules: { alert: string; annotations?: { runbook?: string } }[] }[];
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");

it("points every alert at a runbook section of observability/alerts/README.md that exists", async () => {
  const rules = parse(await readFile(new URL("./livehost.rules.yaml", import.meta.url), "utf8")) as AlertRules;
  const readme = await readFile(new URL("./README.md", import.meta.url), "utf8");
  const anchors = new Set([...readme.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1]!)));

  const alerts = rules.groups.flatMap((g) => g.rules);
  expect(alerts.length).toBeGreaterThan(0);
  const missing = alerts
    .map((rule) => ({ alert: rule.alert, runbook: rule.annotations?.runbook ?? "(none)" }))
    .filter(({ runbook }) => {
      const [file, anchor] = runbook.split("#");
      return file !== "observability/alerts/README.md" || !anchors.has(anchor ?? "");
    });
  expect(missing).toEqual([]);

  const links = [...readme.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
  expect(links.filter((anchor) => !anchors.has(anchor))).toEqual([]);
});
