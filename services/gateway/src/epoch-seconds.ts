// The stream API's `timestamp` is Python's `time.time()`: seconds since the epoch as a float.

/**
 * Epoch milliseconds as float seconds. JSON has one number type, so a value that happens to be a
 * whole second would print as an integer, and a Python client would get an int where the original
 * always gives a float: such a value is moved by one microsecond, below what the clock resolves.
 */
export function epochSeconds(ms: number): number {
  const seconds = ms / 1000;
  return Number.isInteger(seconds) ? seconds + 1e-6 : seconds;
}
