// Shutdown runs several cleanups (stop taking work, close connections, release memory); one that
// fails must not leave the others undone, or a stopping process leaks what they would have freed.

/**
 * Runs every cleanup in order, each after the previous one settled, whether or not it threw.
 * Rejects afterwards with the one error, or an AggregateError of all, when any failed.
 */
export async function closeAll(cleanups: readonly (() => unknown)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const cleanup of cleanups) {
    try {
      await cleanup();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanups failed`);
}
