// The room's public HLS playlist, kept across pipeline rebuilds. Each pipeline's hlssink2 writes its own playlist
// (a private file, one per pipeline generation) whose timestamps and media sequence start again from zero; this
// merges them into one live playlist that players can follow through a rebuild: the media sequence only goes up,
// the first segment of a new pipeline is marked EXT-X-DISCONTINUITY (timestamps restart there), and segments of
// earlier pipelines are deleted once they leave the window, as hlssink2 does with its own.
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

interface Segment {
  file: string;
  seconds: number;
  generation: number;
}

export class HlsPlaylist {
  readonly path: string;
  readonly #dir: string;
  #window: number;
  #targetSeconds: number;
  #segments: Segment[] = [];
  /** Media sequence number of the first listed segment. */
  #sequence = 0;
  /** Discontinuities that have left the window (EXT-X-DISCONTINUITY-SEQUENCE). */
  #discontinuities = 0;
  #ended = false;
  /** Updates run one after another, so the file is never written by two at once. */
  #queue: Promise<void> = Promise.resolve();

  /** `window`: segments listed; `targetSeconds`: the segment duration asked of hlssink2. */
  constructor(dir: string, options: { window: number; targetSeconds: number }) {
    this.#dir = dir;
    this.path = join(dir, "index.m3u8");
    this.#window = options.window;
    this.#targetSeconds = options.targetSeconds;
  }

  /** New window and segment duration (outputs changed while live); they apply from the next update. */
  configure(options: { window: number; targetSeconds: number }): void {
    this.#window = options.window;
    this.#targetSeconds = options.targetSeconds;
  }

  /** Where pipeline `generation`'s hlssink2 writes its own playlist. */
  sourceOf(generation: number): string {
    return join(this.#dir, `.pipeline-g${generation}.m3u8`);
  }

  /** Takes the segments pipeline `generation` has finished since the last update (after each one it closes). */
  update(generation: number): Promise<void> {
    return this.#enqueue(async () => {
      const text = await readFile(this.sourceOf(generation), "utf8").catch(() => "");
      const known = new Set(this.#segments.map((s) => s.file));
      const fresh = parseMediaPlaylist(text)
        .filter((segment) => !known.has(segment.file))
        .map((segment) => ({ ...segment, generation }));
      // A pipeline being replaced closes its last segments after the new one may have listed its first: they go
      // before the newer pipeline's.
      const newer = this.#segments.findIndex((s) => s.generation > generation);
      this.#segments.splice(newer < 0 ? this.#segments.length : newer, 0, ...fresh);
      await this.#write();
    });
  }

  /** The stream is over: the segments written last, then EXT-X-ENDLIST. */
  end(generation: number): Promise<void> {
    this.update(generation).catch(() => undefined); // its failure is end()'s too: the same file is written next
    return this.#enqueue(async () => {
      this.#ended = true;
      await this.#write();
    });
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(work, work);
    return this.#queue;
  }

  async #write() {
    const dropped = this.#segments.splice(0, Math.max(0, this.#segments.length - this.#window));
    for (const segment of dropped) {
      this.#sequence++;
      if (this.#startsGeneration(segment, dropped)) this.#discontinuities++;
    }
    if (this.#segments.length === 0) return;
    const lines = [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      `#EXT-X-TARGETDURATION:${Math.max(this.#targetSeconds, ...this.#segments.map((s) => Math.ceil(s.seconds)))}`,
      `#EXT-X-MEDIA-SEQUENCE:${this.#sequence}`,
      `#EXT-X-DISCONTINUITY-SEQUENCE:${this.#discontinuities}`,
    ];
    this.#segments.forEach((segment, i) => {
      const before = i > 0 ? this.#segments[i - 1] : this.#lastDropped;
      if (before && before.generation !== segment.generation) lines.push("#EXT-X-DISCONTINUITY");
      lines.push(`#EXTINF:${segment.seconds.toFixed(3)},`, segment.file);
    });
    if (this.#ended) lines.push("#EXT-X-ENDLIST");
    // Players poll the playlist: they see the old one or the new one, never half of one.
    const temporary = `${this.path}.tmp`;
    await writeFile(temporary, `${lines.join("\n")}\n`);
    await rename(temporary, this.path);
    // Segments of earlier pipelines that left the window (hlssink2 deletes its own pipeline's), and the playlists
    // of pipelines with nothing left in it.
    const current = this.#segments.at(-1)!.generation;
    const listed = new Set(this.#segments.map((s) => s.generation));
    for (const segment of dropped) {
      if (segment.generation === current) continue;
      await rm(join(this.#dir, segment.file), { force: true });
      if (!listed.has(segment.generation)) await rm(this.sourceOf(segment.generation), { force: true });
    }
  }

  /** Whether `segment` (being dropped) was the first of its pipeline after another one's: a discontinuity leaves. */
  #startsGeneration(segment: Segment, dropped: Segment[]): boolean {
    const i = dropped.indexOf(segment);
    const before = i > 0 ? dropped[i - 1] : this.#lastDropped;
    this.#lastDropped = segment;
    return before !== undefined && before.generation !== segment.generation;
  }

  #lastDropped: Segment | undefined;
}

/** The segments of an HLS media playlist, in order (file names as written, durations from EXTINF). */
export function parseMediaPlaylist(text: string): { file: string; seconds: number }[] {
  const lines = text.split("\n").map((l) => l.trim());
  const segments: { file: string; seconds: number }[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith("#EXTINF:")) return;
    const file = lines.slice(i + 1).find((l) => l !== "" && !l.startsWith("#"));
    if (file) segments.push({ file: file.split("/").pop()!, seconds: Number(line.slice(8).split(",")[0]) });
  });
  return segments;
}
