interface Node<T> {
  key: string;
  value: T;
  older: Node<T> | undefined;
  newer: Node<T> | undefined;
}

/**
 * A map that keeps its entries ordered by last use, so the engine drops idle and surplus groups
 * from the old end in constant time each. (Re-inserting into a plain Map to reorder it leaves holes
 * that every later scan from the front has to step over.)
 */
export class LruMap<T> {
  readonly #nodes = new Map<string, Node<T>>();
  #oldest: Node<T> | undefined;
  #newest: Node<T> | undefined;

  get size(): number {
    return this.#nodes.size;
  }

  // The node of the last get: the engine reads a group and then touches it, one lookup for both.
  #recent: Node<T> | undefined;

  get(key: string): T | undefined {
    const node = this.#nodes.get(key);
    this.#recent = node;
    return node?.value;
  }

  /** Adds an entry as the newest (the key must not be present). */
  add(key: string, value: T): void {
    const node: Node<T> = { key, value, older: this.#newest, newer: undefined };
    if (this.#newest) this.#newest.newer = node;
    else this.#oldest = node;
    this.#newest = node;
    this.#nodes.set(key, node);
  }

  /** Marks an entry as the newest. */
  touch(key: string): void {
    const node = this.#recent?.key === key ? this.#recent : this.#nodes.get(key);
    if (!node || node === this.#newest) return;
    this.#unlink(node);
    node.older = this.#newest;
    node.newer = undefined;
    if (this.#newest) this.#newest.newer = node;
    this.#newest = node;
    this.#oldest ??= node;
  }

  /** The least recently used entry. */
  oldest(): { key: string; value: T } | undefined {
    return this.#oldest;
  }

  /** Removes and returns the least recently used entry. */
  shift(): { key: string; value: T } | undefined {
    const node = this.#oldest;
    if (!node) return undefined;
    this.#unlink(node);
    this.#nodes.delete(node.key);
    if (this.#recent === node) this.#recent = undefined;
    return node;
  }

  delete(key: string): void {
    const node = this.#nodes.get(key);
    if (!node) return;
    this.#unlink(node);
    this.#nodes.delete(key);
    if (this.#recent === node) this.#recent = undefined;
  }

  *values(): IterableIterator<T> {
    for (const node of this.#nodes.values()) yield node.value;
  }

  #unlink(node: Node<T>): void {
    if (node.older) node.older.newer = node.newer;
    else this.#oldest = node.newer;
    if (node.newer) node.newer.older = node.older;
    else this.#newest = node.older;
    node.older = undefined;
    node.newer = undefined;
  }
}
