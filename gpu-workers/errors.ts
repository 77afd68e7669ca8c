// Errors of the GPU workers' own making: a voice nobody has, an engine that failed inside, a model file that is
// not the model we expect. Bad request fields are InvalidArgumentErrors naming the field, raised where they are checked.
import { InternalError, InvalidArgumentError, UnavailableError } from "../errors/index.js";

/** A voice id this worker (or this corpus) does not have. */
export class UnknownVoiceError extends InvalidArgumentError {
  override name = "UnknownVoiceError";
  readonly voiceId: string;

  /** `hint` follows the message, e.g. "; ListVoices lists this worker's voices". */
  constructor(voiceId: string, hint = "") {
    super("voice_id", `unknown voice "${voiceId}"${hint}`);
    this.voiceId = voiceId;
  }
}

/** espeak-ng refused the voice name a voice maps to (the request's voice_id led to it). */
export class EspeakVoiceError extends InvalidArgumentError {
  override name = "EspeakVoiceError";

  constructor(message: string) {
    super("voice_id", `espeak-ng: ${message}`);
  }
}

/** espeak-ng failed inside while synthesizing or phonemizing. */
export class EspeakError extends InternalError {
  override name = "EspeakError";

  constructor(message: string) {
    super(`espeak-ng: ${message}`);
  }
}

/** A model file that loads but lacks an input or output our code feeds or reads. */
export class UnusableModelError extends UnavailableError {
  override name = "UnusableModelError";
}
