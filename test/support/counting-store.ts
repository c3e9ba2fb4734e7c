import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import type { DatabaseHandle } from '../../src/adapters/db/dialect.ts';
import { KyselyStore } from '../../src/adapters/db/kysely-store.ts';
import type { Store } from '../../src/app/ports/store.ts';

/** What a piece of work cost the database: statements by kind, and commits (explicit or implicit). */
export interface StatementCounts {
  reads: number;
  writes: number;
  /** Explicit transactions (BEGIN … COMMIT). */
  transactions: number;
  /** Writes outside any transaction: each one commits on its own. */
  autocommitWrites: number;
  /** transactions + autocommitWrites: how often the database made something durable. */
  commits: number;
  /** The SQL of every statement, in order, for a test's failure message. */
  log: string[];
}

/**
 * The real store on the real database, counting every statement it sends and every transaction it
 * opens: a test can hold a path to a number of round trips and commits.
 */
export class CountingStore extends KyselyStore {
  #depth = 0;
  #counts: StatementCounts = emptyCounts();

  constructor(handle: DatabaseHandle) {
    const self: { store?: CountingStore } = {};
    const plugin: KyselyPlugin = {
      transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
        if (self.store) self.store.#count(args.node);
        return args.node;
      },
      transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
        return Promise.resolve(args.result);
      },
    };
    super(handle, handle.db.withPlugin(plugin));
    self.store = this;
  }

  #count(node: RootOperationNode): void {
    const c = this.#counts;
    const write = node.kind === 'InsertQueryNode' || node.kind === 'UpdateQueryNode' || node.kind === 'DeleteQueryNode'
      || (node.kind === 'RawNode' && !/^\s*select\b/i.test(node.sqlFragments.join('?')));
    if (write) c.writes++;
    else c.reads++;
    if (write && this.#depth === 0) c.autocommitWrites++;
    c.log.push(`${this.#depth ? '  ' : ''}${describe(node)}`);
  }

  override async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    this.#counts.transactions++;
    this.#depth++;
    this.#counts.log.push('begin');
    try {
      return await super.transaction(fn);
    } finally {
      this.#depth--;
      this.#counts.log.push('end');
    }
  }

  /** The counts since the last call, and a fresh start. */
  take(): StatementCounts {
    const c = this.#counts;
    this.#counts = emptyCounts();
    return { ...c, commits: c.transactions + c.autocommitWrites };
  }
}

/** `select tickets`, `insert activity`, …: enough to read a path from a test's failure message. */
function describe(node: RootOperationNode): string {
  const n = node as unknown as Record<string, any>;
  const table = (t: any): string => t?.table?.identifier?.name ?? t?.node?.table?.identifier?.name ?? '?';
  switch (node.kind) {
    case 'SelectQueryNode': return `select ${table(n.from?.froms?.[0])}`;
    case 'InsertQueryNode': return `insert ${table(n.into)}`;
    case 'UpdateQueryNode': return `update ${table(n.table)}`;
    case 'DeleteQueryNode': return `delete ${table(n.from?.froms?.[0])}`;
    case 'RawNode': return `sql ${(n.sqlFragments as string[]).join('?').replace(/\s+/g, ' ').slice(0, 60)}`;
    default: return node.kind;
  }
}

function emptyCounts(): StatementCounts {
  return { reads: 0, writes: 0, transactions: 0, autocommitWrites: 0, commits: 0, log: [] };
}
