// Sentence boundaries, for speaking a line sentence by sentence (TTS starts on the first one, a question cuts in
// at the next boundary) and for cutting an LLM's token stream into sentences as it arrives.

// Chinese stops end a sentence at once; English ones only before a space (so "49.99" and "1.7 L" stay whole).
const boundary = /[。！？!?；…]+[”’"'）)]*|\.+[”’"')]*(?=\s|$)/g;

/** [start, end) of each sentence of a text, covering it without gaps (spaces go with the sentence before). */
export function sentenceSpans(text: string): [number, number][] {
  const spans: [number, number][] = [];
  let start = 0;
  for (const match of text.matchAll(boundary)) {
    let end = match.index + match[0].length;
    while (end < text.length && /\s/.test(text[end]!)) end++;
    if (text.slice(start, end).trim() !== "") spans.push([start, end]);
    start = end;
  }
  if (text.slice(start).trim() !== "") spans.push([start, text.length]);
  return spans;
}

/**
 * Cuts a stream of text pieces into sentences as soon as each one is complete. A sentence longer than
 * `maxLength` is cut at its last comma so speech never waits on a run-on sentence.
 */
export async function* sentencesOf(pieces: AsyncIterable<string>, maxLength = 120): AsyncGenerator<string> {
  let pending = "";
  for await (const piece of pieces) {
    pending += piece;
    const spans = sentenceSpans(pending);
    // The last sentence may still grow ("49." waiting for "99"), unless it ends in a stop that cannot.
    const lastDone = /[。！？!?；…][”’"'）)]*\s*$/.test(pending);
    const done = lastDone ? spans : spans.slice(0, -1);
    for (const [start, end] of done) yield pending.slice(start, end).trim();
    pending = pending.slice(done.at(-1)?.[1] ?? 0);
    if (pending.length > maxLength) {
      const comma = Math.max(pending.lastIndexOf("，"), pending.lastIndexOf(", "), pending.lastIndexOf(","));
      const cut = comma > 0 ? comma + 1 : pending.length;
      yield pending.slice(0, cut).trim();
      pending = pending.slice(cut);
    }
  }
  if (pending.trim() !== "") yield pending.trim();
}
