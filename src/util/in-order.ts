/**
 * `work` on items in their order, at most `concurrency` at a time: item i starts only after items 0..i-1
 * started, so what has started is always a prefix (a deadline cuts the list as running them one by one would).
 * `proceed` is asked before each start; false starts nothing more. The first failure starts nothing more
 * either, and is thrown once the items in flight have settled (none is left running behind the caller).
 * Returns the results by index; items never started are absent.
 */
export async function inOrder<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
  proceed: (index: number) => boolean = () => true,
): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      if (!proceed(i)) {
        next = items.length;
        return;
      }
      try {
        results[i] = await work(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  if (failure) throw failure.error;
  return results;
}
