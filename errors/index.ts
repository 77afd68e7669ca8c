// errors: what livehost raises on purpose, on the ground floor so every folder can throw without importing a
// transport. Each edge maps `code` once (gRPC status in transport/, HTTP status in the viewer).
export { LivehostError, type ErrorCode } from "./livehost-error.js";
export {
  InvalidArgumentError,
  UnauthenticatedError,
  PermissionDeniedError,
  NotFoundError,
  AlreadyExistsError,
  FailedPreconditionError,
  AbortedError,
  ResourceExhaustedError,
  UnavailableError,
  DeadlineExceededError,
  CancelledError,
  InternalError,
  errorFromCode,
} from "./kinds.js";
export { MalformedMessageError, ProtocolError, againOnDeadline } from "./failures.js";
