/** A binary max-heap of ranges keyed by squared error (ties: the earlier range first, for determinism). */
export class MaxHeap {
  private readonly items: { s: number; e: number; key: number }[] = [];

  get size(): number {
    return this.items.length;
  }

  push(s: number, e: number, key: number): void {
    const a = this.items;
    a.push({ s, e, key });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): [number, number] {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const rr = l + 1;
        let best = i;
        if (l < a.length && this.above(a[l]!, a[best]!)) best = l;
        if (rr < a.length && this.above(a[rr]!, a[best]!)) best = rr;
        if (best === i) break;
        [a[i], a[best]] = [a[best]!, a[i]!];
        i = best;
      }
    }
    return [top.s, top.e];
  }

  private above(x: { s: number; key: number }, y: { s: number; key: number }): boolean {
    return x.key > y.key || (x.key === y.key && x.s < y.s);
  }
}
