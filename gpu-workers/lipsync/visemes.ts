// Mouth shapes from phonemes: the labels the lip-sync model learns from. espeak-ng reports each phoneme it speaks
// (IPA, Mandarin and English); each maps to one of a small set of visemes, and each viseme to mouth parameters a
// renderer or an atlas can use. The set itself (the usual 10-ish viseme groups of lip-sync systems) is the avatar-pack
// format's, in avatars/, and is re-exported here for the lip-sync code.
import { Viseme, type VisemeId } from "../../avatars/index.js";

export { Viseme, visemeCount, type VisemeId } from "../../avatars/index.js";

export interface MouthParams {
  /** Jaw/lip opening, 0 closed to 1 wide open. */
  open: number;
  /** Lip corner spread, 0 narrow to 1 wide. */
  width: number;
  /** Lip rounding, 0 none to 1 full pucker. */
  round: number;
}

export const visemeParams: Record<VisemeId, MouthParams> = {
  [Viseme.rest]: { open: 0.05, width: 0.5, round: 0.1 },
  [Viseme.open]: { open: 0.9, width: 0.6, round: 0.1 },
  [Viseme.spread]: { open: 0.45, width: 0.9, round: 0 },
  [Viseme.round]: { open: 0.65, width: 0.35, round: 0.7 },
  [Viseme.pucker]: { open: 0.25, width: 0.2, round: 1 },
  [Viseme.closed]: { open: 0, width: 0.5, round: 0.1 },
  [Viseme.labiodental]: { open: 0.15, width: 0.6, round: 0 },
  [Viseme.tongue]: { open: 0.3, width: 0.55, round: 0.1 },
  [Viseme.sibilant]: { open: 0.15, width: 0.75, round: 0.1 },
  [Viseme.back]: { open: 0.4, width: 0.5, round: 0.2 },
};

/**
 * The viseme of an espeak-ng IPA phoneme (as its phoneme events report them: "ɑː", "tɕh", "ts.h", "ou", "əl").
 * The first sound of a cluster decides; stress, length and tone marks are ignored; unknown symbols are rest.
 */
export function visemeOf(phoneme: string): VisemeId {
  const p = phoneme.replace(/[ˈˌːˑ.\-0-9]/g, "");
  if (p === "" || p === "_") return Viseme.rest;
  // Affricates and sibilants first: they start with a stop letter but look like teeth-together.
  if (/^(ts|tɕ|tʃ|dʒ|dz|ʂ|ʐ|ɕ|ʃ|ʒ|s|z)/.test(p)) return Viseme.sibilant;
  const c = p[0]!;
  if ("mbp".includes(c)) return Viseme.closed;
  if ("fv".includes(c)) return Viseme.labiodental;
  if ("tdnlθðɾɫ".includes(c)) return Viseme.tongue;
  if ("kgɡŋhχxɣjɹrʁ".includes(c)) return Viseme.back;
  if ("wuʊyʏ".includes(c)) return Viseme.pucker;
  if ("oɔɒ".includes(c)) return Viseme.round;
  if ("aɑæʌɐ".includes(c)) return Viseme.open;
  if ("eɛiɪəɚɜɝɘɨɯɤ".includes(c)) return Viseme.spread;
  return Viseme.rest;
}

export interface TimedPhoneme {
  phoneme: string;
  startMs: number;
  endMs: number;
}

/**
 * Frame-by-frame viseme labels at `fps` for `durationMs` of audio: each frame takes the viseme of the phoneme
 * covering its centre, rest where nothing is spoken.
 */
export function visemeTrack(phonemes: TimedPhoneme[], durationMs: number, fps: number): VisemeId[] {
  const frames = Math.round((durationMs * fps) / 1000);
  const track: VisemeId[] = new Array<VisemeId>(frames).fill(Viseme.rest);
  let i = 0;
  for (let frame = 0; frame < frames; frame++) {
    const centre = ((frame + 0.5) * 1000) / fps;
    while (i < phonemes.length && phonemes[i]!.endMs <= centre) i++;
    const current = phonemes[i];
    if (current && current.startMs <= centre) track[frame] = visemeOf(current.phoneme);
  }
  return track;
}
