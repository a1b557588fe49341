/** Every error mvface throws is an MvfaceError with a stable `code` and, where one is at fault, the `argument`. */
export type ErrorCode =
  | 'E_SHAPE'
  | 'E_LABEL'
  | 'E_NONFINITE'
  | 'E_CONFIG'
  | 'E_IO'
  | 'E_MEMORY'
  | 'E_NATIVE'
  | 'E_NO_BUILD'
  | 'E_LIBTORCH_MISSING'
  | 'E_LIBRARY_MISSING'
  | 'E_LIBTORCH_MISMATCH';

export class MvfaceError extends Error {
  readonly code: ErrorCode;
  readonly argument?: string;
  constructor(code: ErrorCode, message: string, argument?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    if (argument) this.argument = argument;
  }
}

/** Wrong shape, length or dtype of an input. */
export class ShapeError extends MvfaceError {}
/** Labels out of range or not integers. */
export class LabelError extends MvfaceError {}
/** NaN or Inf in an input. */
export class NonFiniteError extends MvfaceError {}
/** An unknown option or an option outside its range. */
export class ConfigError extends MvfaceError {}
/** A file that is missing, unreadable or corrupt. */
export class IoError extends MvfaceError {}
/** The native addon could not be loaded (no build, a missing library, missing or wrong libtorch). */
export class LoadError extends MvfaceError {}
/** An error raised inside libtorch or the native core that has no more specific class. */
export class NativeError extends MvfaceError {}

const classes: Record<ErrorCode, new (code: ErrorCode, message: string, argument?: string) => MvfaceError> = {
  E_SHAPE: ShapeError,
  E_LABEL: LabelError,
  E_NONFINITE: NonFiniteError,
  E_CONFIG: ConfigError,
  E_IO: IoError,
  E_MEMORY: NativeError,
  E_NATIVE: NativeError,
  E_NO_BUILD: LoadError,
  E_LIBTORCH_MISSING: LoadError,
  E_LIBRARY_MISSING: LoadError,
  E_LIBTORCH_MISMATCH: LoadError,
};

/** Builds the MvfaceError subclass for a code; the native addon calls this for every C++ exception. */
export function createError(code: string, message: string, argument?: string): MvfaceError {
  const known = (code in classes ? code : 'E_NATIVE') as ErrorCode;
  return new classes[known](known, message, argument || undefined);
}
