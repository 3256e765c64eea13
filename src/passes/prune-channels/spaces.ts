/**
 * Channel spaces and the groups they form, shared by the layers and the graph analysis: each root (a kernel
 * whose output channels may go) opens a space; an element-wise op that combines two spaces makes them one
 * group (union-find), since every tensor it adds must keep the same channels; a reason found on any member
 * blocks the whole group.
 */

export interface Group {
  /** The kernels (layers or graph nodes) whose output channels are the group's channels. */
  roots: string[];
  /** Canonical space ids of the group (one per root). */
  spaces: number[];
  merges: string[];
  size: number;
  /** Why the group cannot be pruned (empty: it can). */
  blocked: string[];
}

export class ChannelSpaces {
  private readonly parent: number[] = [];
  private readonly roots: string[][] = [];
  private readonly blocked: string[][] = [];
  private readonly merges: string[][] = [];
  private readonly sizes: number[] = [];

  /** A new space for `root`'s `size` output channels; its id. */
  add(root: string, size: number): number {
    const s = this.parent.length;
    this.parent.push(s);
    this.roots.push([root]);
    this.merges.push([]);
    this.blocked.push([]);
    this.sizes.push(size);
    return s;
  }

  /** The channel count of a space as it was opened. */
  size(s: number): number {
    return this.sizes[s]!;
  }

  /** Canonical id of a space (after unions). */
  readonly find = (s: number): number => {
    const parent = this.parent;
    while (parent[s] !== s) s = parent[s] = parent[parent[s]!]!;
    return s;
  };

  /** One group of the two spaces' groups. */
  union(a: number, b: number): void {
    const [x, y] = [this.find(a), this.find(b)];
    if (x === y) return;
    this.parent[y] = x;
    this.roots[x]!.push(...this.roots[y]!);
    this.blocked[x]!.push(...this.blocked[y]!);
    this.merges[x]!.push(...this.merges[y]!);
  }

  /** Records why a space's group cannot be pruned (once per reason). */
  block(s: number, why: string): void {
    const r = this.find(s);
    if (!this.blocked[r]!.includes(why)) this.blocked[r]!.push(why);
  }

  /** Records the op that combined a space's group with another. */
  merged(s: number, by: string): void {
    this.merges[this.find(s)]!.push(by);
  }

  /** The groups; one whose roots have different channel counts is blocked, naming them as `what` (layers, nodes). */
  groups(what: string): Group[] {
    const byRoot = new Map<number, Group>();
    for (let s = 0; s < this.parent.length; s++) {
      const r = this.find(s);
      let g = byRoot.get(r);
      if (!g) {
        g = {
          roots: this.roots[r]!,
          spaces: [],
          merges: this.merges[r]!,
          size: this.sizes[r]!,
          blocked: this.blocked[r]!,
        };
        byRoot.set(r, g);
      }
      g.spaces.push(s);
    }
    const groups = [...byRoot.values()];
    for (const g of groups)
      if (new Set(g.spaces.map((s) => this.sizes[s]!)).size > 1 && !g.blocked.length)
        g.blocked.push(`its ${what} ${g.roots.join(', ')} have different channel counts`);
    return groups;
  }
}
