import { sql, type Kysely } from 'kysely';
import type { ErpStore, SettingsStore } from '../../../app/ports/store.ts';
import type { Characteristics, Contract, Customer } from '../../../domain/erp.ts';
import type { DialectKind } from '../dialect.ts';
import type { Database } from '../schema.ts';
import { ftsQuery, searchDocument, searchWords as words, tsQuery } from '../search-text.ts';
import { json, toJson } from '../values.ts';

/** Every text and number in a record (nested addresses included), for the full-text index. */
function searchText(record: Record<string, unknown>): string {
  const out: string[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > 3 || v === null || v === undefined) return;
    if (typeof v === 'string' || typeof v === 'number') {
      out.push(String(v));
      // Numbers written in groups (IBAN, meter numbers) are also found written together.
      if (typeof v === 'string' && /\d/.test(v) && /\s/.test(v.trim())) out.push(v.replace(/\s+/g, ''));
    }
    else if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else if (typeof v === 'object') Object.entries(v as Record<string, unknown>).forEach(([k, x]) => { if (k !== 'erpUrls' && k !== 'agentPreview') walk(x, depth + 1); });
  };
  walk(record, 0);
  return searchDocument(out);
}

/** How many matches a search ranks at most (see `match`). */
const RANKED = 200;

const lower = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim().toLowerCase() : null);

export class SettingsRepo implements SettingsStore {
  constructor(private readonly db: Kysely<Database>) {}

  async get<T>(key: string): Promise<T | null> {
    const r = await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return r ? json<T>(r.value) : null;
  }

  async put(key: string, value: unknown, at: string): Promise<void> {
    await this.db.insertInto('settings').values({ key, value: toJson(value), modified_at: at })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: toJson(value), modified_at: at })).execute();
  }
}

export class ErpRepo implements ErpStore {
  constructor(private readonly db: Kysely<Database>, private readonly kind: DialectKind) {}

  async getContract(id: string): Promise<Contract | null> {
    const r = await this.db.selectFrom('erp_contracts').select('data').where('id', '=', id).executeTakeFirst();
    return r ? json<Contract>(r.data) : null;
  }

  async getCustomer(id: string): Promise<Customer | null> {
    const r = await this.db.selectFrom('erp_customers').select('data').where('id', '=', id).executeTakeFirst();
    return r ? json<Customer>(r.data) : null;
  }

  /**
   * Replaces one record's search text. On SQLite the FTS row is addressed by its row id, found
   * through erp_search_keys' primary key: FTS5 cannot index kind/record_id, and a delete by them
   * would scan every row (O(N) per upsert).
   */
  private async index(kind: 'contract' | 'customer', id: string, record: Record<string, unknown> | null): Promise<void> {
    if (this.kind === 'postgres') {
      await this.db.deleteFrom('erp_search').where('kind', '=', kind).where('record_id', '=', id).execute();
      if (record) await this.db.insertInto('erp_search').values({ kind, record_id: id, text: searchText(record) }).execute();
      return;
    }
    const key = await sql<{ rowid: number }>`SELECT rowid FROM erp_search_keys WHERE kind = ${kind} AND record_id = ${id}`.execute(this.db);
    const rowid = key.rows[0]?.rowid;
    if (rowid !== undefined) await sql`DELETE FROM erp_search WHERE rowid = ${rowid}`.execute(this.db);
    if (!record) {
      if (rowid !== undefined) await sql`DELETE FROM erp_search_keys WHERE rowid = ${rowid}`.execute(this.db);
      return;
    }
    const at = rowid ?? (await sql<{ rowid: number }>`INSERT INTO erp_search_keys (kind, record_id) VALUES (${kind}, ${id}) RETURNING rowid`.execute(this.db)).rows[0]!.rowid;
    await sql`INSERT INTO erp_search (rowid, kind, record_id, text) VALUES (${at}, ${kind}, ${id}, ${searchText(record)})`.execute(this.db);
  }

  async putContract(c: Contract, at: string): Promise<void> {
    const row = { customer_id: c.customerId, email: lower(c.email), data: toJson(c), modified_at: at };
    await this.db.insertInto('erp_contracts').values({ id: c.id, ...row }).onConflict((oc) => oc.column('id').doUpdateSet(row)).execute();
    await this.index('contract', c.id, c);
  }

  async putCustomer(c: Customer, at: string): Promise<void> {
    const row = { email: lower(c.email), data: toJson(c), modified_at: at };
    await this.db.insertInto('erp_customers').values({ id: c.id, ...row }).onConflict((oc) => oc.column('id').doUpdateSet(row)).execute();
    await this.index('customer', c.id, c);
  }

  /**
   * Many records at once (imports). On PostgreSQL three statements per call instead of three per
   * record: the round trips, not the work, were the cost. The same id twice: the last one wins.
   */
  async putMany(contracts: readonly Contract[], customers: readonly Customer[], at: string): Promise<void> {
    if (this.kind !== 'postgres') {
      for (const c of contracts) await this.putContract(c, at);
      for (const c of customers) await this.putCustomer(c, at);
      return;
    }
    const lastOf = <T extends { id: string }>(items: readonly T[]) => [...new Map(items.map((i) => [i.id, i])).values()];
    const cs = lastOf(contracts);
    const us = lastOf(customers);
    if (cs.length) {
      await this.db.insertInto('erp_contracts')
        .values(cs.map((c) => ({ id: c.id, customer_id: c.customerId, email: lower(c.email), data: toJson(c), modified_at: at })))
        .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
          customer_id: eb.ref('excluded.customer_id'), email: eb.ref('excluded.email'), data: eb.ref('excluded.data'), modified_at: eb.ref('excluded.modified_at'),
        })))
        .execute();
    }
    if (us.length) {
      await this.db.insertInto('erp_customers')
        .values(us.map((c) => ({ id: c.id, email: lower(c.email), data: toJson(c), modified_at: at })))
        .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({
          email: eb.ref('excluded.email'), data: eb.ref('excluded.data'), modified_at: eb.ref('excluded.modified_at'),
        })))
        .execute();
    }
    const search = [
      ...cs.map((c) => ({ kind: 'contract', record_id: c.id, text: searchText(c) })),
      ...us.map((c) => ({ kind: 'customer', record_id: c.id, text: searchText(c) })),
    ];
    if (search.length) {
      await this.db.insertInto('erp_search').values(search)
        .onConflict((oc) => oc.columns(['kind', 'record_id']).doUpdateSet((eb) => ({ text: eb.ref('excluded.text') })))
        .execute();
    }
  }

  async deleteContract(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('erp_contracts').where('id', '=', id).executeTakeFirst();
    await this.index('contract', id, null);
    return Number(r.numDeletedRows) > 0;
  }

  async deleteCustomer(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('erp_customers').where('id', '=', id).executeTakeFirst();
    await this.index('customer', id, null);
    return Number(r.numDeletedRows) > 0;
  }

  /**
   * Ids of records of `kind` whose text contains every word (as a prefix when `prefix`), best
   * first. Ranking reads the matches' index entries, so it is bounded: the best of the first
   * RANKED matches (20 pages of the search bar's 10). A query that matches more (a short prefix
   * over 100k customers) costs what it costs at 1k: on SQLite the prefix indexes of migration 0020
   * hand FTS5 one list to stop early in; the agent narrows it with a second word.
   */
  private async match(kind: 'contract' | 'customer', ws: string[], limit: number, offset: number, prefix: boolean): Promise<string[]> {
    if (!ws.length) return [];
    if (this.kind === 'postgres') {
      const query = tsQuery(ws, prefix);
      const rows = await sql<{ record_id: string }>`SELECT record_id FROM (
          SELECT record_id, tsv FROM erp_search WHERE kind = ${kind} AND tsv @@ to_tsquery('simple', ${query}) LIMIT ${RANKED}) m
        ORDER BY ts_rank(tsv, to_tsquery('simple', ${query})) DESC, record_id LIMIT ${limit} OFFSET ${offset}`.execute(this.db);
      return rows.rows.map((r) => r.record_id);
    }
    const query = ftsQuery(ws, prefix);
    const rows = await sql<{ record_id: string }>`SELECT record_id FROM (
        SELECT record_id, rank AS r FROM erp_search WHERE erp_search MATCH ${query} AND kind = ${kind} LIMIT ${RANKED})
      ORDER BY r, record_id LIMIT ${limit} OFFSET ${offset}`.execute(this.db);
    return rows.rows.map((r) => r.record_id);
  }

  private async contracts(ids: string[]): Promise<Contract[]> {
    if (!ids.length) return [];
    const rows = await this.db.selectFrom('erp_contracts').select('data').where('id', 'in', ids).orderBy('id').execute();
    return rows.map((r) => json<Contract>(r.data));
  }

  async findContracts(ch: Characteristics): Promise<Contract[]> {
    if (ch.contractId) {
      const c = await this.getContract(ch.contractId);
      if (c) return [c];
    }
    if (ch.customerId) {
      const rows = await this.db.selectFrom('erp_contracts').select('id').where('customer_id', '=', ch.customerId).orderBy('id').limit(2).execute();
      if (rows.length) return this.contracts(rows.map((r) => r.id));
    }
    const email = lower(ch.email);
    if (email) {
      const direct = await this.db.selectFrom('erp_contracts').select('id').where('email', '=', email).limit(2).execute();
      const viaCustomer = await this.db.selectFrom('erp_contracts').innerJoin('erp_customers', 'erp_customers.id', 'erp_contracts.customer_id')
        .select('erp_contracts.id').where('erp_customers.email', '=', email).limit(2).execute();
      const ids = [...new Set([...direct, ...viaCustomer].map((r) => r.id))].slice(0, 2);
      if (ids.length) return this.contracts(ids);
    }
    for (const key of ['meterNumber', 'iban'] as const) {
      const value = ch[key]?.replace(/\s+/g, '');
      if (value) {
        const ids = await this.match('contract', words(value), 2, 0, false);
        if (ids.length) return this.contracts(ids);
      }
    }
    // A name alone is not specific enough: it needs a second detail of the address or the first name.
    const name = ch.company ?? ch.lastname;
    const detail = [ch.postalCode, ch.city, ch.street, ch.firstname].filter((v): v is string => !!v);
    if (name && detail.length) {
      const ids = await this.match('contract', words([name, ...detail].join(' ')), 2, 0, false);
      if (ids.length) return this.contracts(ids);
    }
    return [];
  }

  async searchCustomers(q: string, limit: number, offset: number): Promise<string[]> {
    return this.match('customer', words(q), limit, offset, true);
  }

  async counts(): Promise<{ contracts: number; customers: number }> {
    const [a, b] = await Promise.all([
      this.db.selectFrom('erp_contracts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
      this.db.selectFrom('erp_customers').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { contracts: Number(a.n), customers: Number(b.n) };
  }
}
